package controller

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// ownWrites remembers, per VMI, the resourceVersions that this
// controller's own successful writes replaced. A write under optimistic
// lock succeeds only on the version it read, so the version it replaced is
// known to be old: a cached VMI still at one of them predates a write of
// ours, and a pass on it could only conflict (409) or redo the write. The
// informer delivers the newer version soon, and with it another pass.
// This is what KubeVirt's controllers keep as "expectations".
type ownWrites struct {
	mu         sync.Mutex
	superseded map[types.NamespacedName]map[string]struct{}
}

// wrote records that a write of ours replaced version rv of the VMI.
func (w *ownWrites) wrote(key types.NamespacedName, rv string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.superseded == nil {
		w.superseded = map[types.NamespacedName]map[string]struct{}{}
	}
	if w.superseded[key] == nil {
		w.superseded[key] = map[string]struct{}{}
	}
	w.superseded[key][rv] = struct{}{}
}

// stale reports whether version rv of the VMI is one a write of ours
// replaced. A version that is not is at least as new as every write of
// ours (resourceVersions are only ever replaced by newer ones), so the
// record is dropped then.
func (w *ownWrites) stale(key types.NamespacedName, rv string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, old := w.superseded[key][rv]; old {
		return true
	}
	delete(w.superseded, key)
	return false
}

// forget drops what is known of a VMI that is gone.
func (w *ownWrites) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.superseded, key)
}

// ownSignatures remembers the signature this controller last wrote to each
// launcher Pod, by Pod UID. A strategic merge patch carries no
// resourceVersion, so which cached versions predate it is not known; what
// is known is what it wrote: a cached Pod without that signature has not
// caught up yet, and signing it again would be a second, redundant write.
type ownSignatures struct {
	mu  sync.Mutex
	sig map[types.UID]string
}

func (s *ownSignatures) wrote(pod types.UID, sig string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sig == nil {
		s.sig = map[types.UID]string{}
	}
	s.sig[pod] = sig
}

// pending reports whether sig was written to the Pod and the cached Pod,
// which holds has, does not show it yet. Once it does, the record goes.
func (s *ownSignatures) pending(pod types.UID, sig, has string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	written, ok := s.sig[pod]
	if !ok || written != sig {
		return false
	}
	if has == sig {
		delete(s.sig, pod)
		return false
	}
	return true
}

// forget drops the record of a Pod that is going.
func (s *ownSignatures) forget(pod types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sig, pod)
}
