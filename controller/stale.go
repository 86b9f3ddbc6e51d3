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
