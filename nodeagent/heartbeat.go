package nodeagent

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/podvirt/podvirt/domainspec"
)

// Heartbeat renews this node's heartbeat Lease (domainspec.NodeLeaseName),
// as the kubelet renews its node Lease: the controller marks the node's
// VMIs Unknown when it runs out, so that nobody takes a guest for running
// (or for stopped) while no agent watches it. It runs whatever the
// agent's other work does: a Lease renewed by an agent that cannot reach
// libvirt would still say "this node answers", which is true; the guests'
// state is reported on their VMIs.
type Heartbeat struct {
	// Client writes the Lease; Reader reads it from the API server (the
	// agent caches only its node's Pods, and may read no other Lease list).
	Client client.Client
	Reader client.Reader
	// Namespace is podvirt's namespace, where the Lease lives.
	Namespace string
	// NodeName is this node; the Lease is named for it and held by it.
	NodeName string
	// Duration is how long the Lease holds without renewal (its
	// leaseDurationSeconds, whole seconds): 40 s when zero, as the
	// kubelet's node Lease.
	Duration time.Duration
	// Interval between renewals: 10 s when zero. After a failure it
	// retries within a second, then at Interval.
	Interval time.Duration
	// Recovered, when set, is called (in its own goroutine) after a
	// renewal that follows failed ones: the API server answers again
	// (Reconciler.Resync).
	Recovered func(context.Context) error
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	lease *coordinationv1.Lease // as last written or read
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every node
// agent beats for its own node.
func (h *Heartbeat) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable: it renews until ctx ends. It never
// deletes the Lease, not even on a graceful stop: a stopped agent is an
// agent that does not watch its guests, which is what an expired Lease
// says.
func (h *Heartbeat) Start(ctx context.Context) error {
	interval := h.interval()
	failures := 0
	for {
		wait := interval
		if err := h.Renew(ctx); err != nil {
			failures++
			log.FromContext(ctx).Error(err, "renewing the node heartbeat Lease failed", "failures", failures)
			if failures == 1 {
				wait = min(interval, time.Second)
			}
		} else {
			if failures > 0 && h.Recovered != nil {
				log.FromContext(ctx).Info("the node heartbeat Lease is renewed again", "after failures", failures)
				go func() {
					if err := h.Recovered(ctx); err != nil {
						log.FromContext(ctx).Error(err, "catching up after the heartbeat failed")
					}
				}()
			}
			failures = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Renew writes the Lease once: created when absent, else renewed (a
// conflict is retried once on a fresh read).
func (h *Heartbeat) Renew(ctx context.Context) error {
	name := domainspec.NodeLeaseName(h.NodeName)
	for attempt := 0; ; attempt++ {
		if h.lease == nil {
			l := &coordinationv1.Lease{}
			err := h.Reader.Get(ctx, types.NamespacedName{Namespace: h.Namespace, Name: name}, l)
			switch {
			case apierrors.IsNotFound(err):
				return h.create(ctx, name)
			case err != nil:
				return fmt.Errorf("reading Lease %s/%s: %w", h.Namespace, name, err)
			}
			h.lease = l
		}
		l := h.lease.DeepCopy()
		h.fill(l)
		err := h.Client.Update(ctx, l)
		if err == nil {
			h.lease = l
			return nil
		}
		h.lease = nil // read it again: changed or removed by someone else
		if (!apierrors.IsConflict(err) && !apierrors.IsNotFound(err)) || attempt > 0 {
			return fmt.Errorf("renewing Lease %s/%s (spec.renewTime): %w", h.Namespace, name, err)
		}
	}
}

func (h *Heartbeat) create(ctx context.Context, name string) error {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: h.Namespace, Name: name}}
	h.fill(l)
	l.Spec.AcquireTime = l.Spec.RenewTime
	if err := h.Client.Create(ctx, l); err != nil {
		return fmt.Errorf("creating Lease %s/%s: %w", h.Namespace, name, err)
	}
	h.lease = l
	return nil
}

// fill sets what each renewal says: who holds the Lease, for how long,
// and when it was renewed.
func (h *Heartbeat) fill(l *coordinationv1.Lease) {
	now := metav1.NewMicroTime(h.now())
	seconds := int32(h.duration() / time.Second)
	holder := h.NodeName
	l.Spec.HolderIdentity = &holder
	l.Spec.LeaseDurationSeconds = &seconds
	l.Spec.RenewTime = &now
}

func (h *Heartbeat) duration() time.Duration {
	if h.Duration < time.Second {
		return 40 * time.Second
	}
	return h.Duration
}

func (h *Heartbeat) interval() time.Duration {
	if h.Interval <= 0 {
		return 10 * time.Second
	}
	return h.Interval
}

func (h *Heartbeat) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
