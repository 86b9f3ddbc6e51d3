package nodeagent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

// Backoff of the event pump's subscriptions while libvirtd does not
// answer: from pumpRetryMin, doubled each failure, at most pumpRetryMax.
const (
	pumpRetryMin = 500 * time.Millisecond
	pumpRetryMax = 8 * time.Second
)

// eventPump turns libvirt lifecycle events into reconcile requests for the
// domains' launcher Pods, resubscribing whenever the stream ends (libvirtd
// restarted or stopped), with backoff while libvirtd does not answer.
type eventPump struct {
	source hypervisor.EventSource
	out    chan event.TypedGenericEvent[client.Object]
	// resync, when set, is called (in its own goroutine) each time the
	// pump subscribes after a stream ended or a subscription failed
	// (Reconciler.Resync): what changed while libvirtd was away sent no
	// event, and the reconciles that failed meanwhile wait out their
	// backoff.
	resync func(context.Context) error
	// retryMin and retryMax bound the backoff; pumpRetryMin and
	// pumpRetryMax when zero.
	retryMin, retryMax time.Duration
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: each node
// agent watches its own libvirt.
func (p *eventPump) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable.
func (p *eventPump) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("libvirt-events")
	retryMin, retryMax := p.retryMin, p.retryMax
	if retryMin <= 0 {
		retryMin = pumpRetryMin
	}
	if retryMax < retryMin {
		retryMax = max(pumpRetryMax, retryMin)
	}
	wait, lost, failures := retryMin, false, 0
	for ctx.Err() == nil {
		names, err := p.source.DomainEvents(ctx)
		if err != nil {
			failures++
			lost = true
			if failures == 1 || wait == retryMax {
				logger.Error(err, "libvirtd does not answer; subscribing again with backoff", "retry in", wait.String(), "failures", failures)
			}
		} else {
			if lost {
				logger.Info("subscribed to libvirt's events again: resyncing every launcher Pod", "after failures", failures)
				if p.resync != nil {
					go func() {
						if err := p.resync(ctx); err != nil {
							logger.Error(err, "resyncing after libvirtd answered again")
						}
					}()
				}
			}
			wait, failures = retryMin, 0
			for name := range names {
				if obj := launcherPodOf(name); obj != nil {
					select {
					case p.out <- event.TypedGenericEvent[client.Object]{Object: obj}:
					case <-ctx.Done():
					}
				}
			}
			// The stream ended: the connection to libvirtd dropped.
			lost = true
			if ctx.Err() == nil {
				logger.Info("libvirt's event stream ended; subscribing again")
			}
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		if err != nil {
			wait = min(2*wait, retryMax)
		}
	}
	return nil
}

// launcherPodOf names the launcher Pod of a domain <namespace>_<name>.
func launcherPodOf(domainName string) client.Object {
	ns, name, ok := domainspec.ParseName(domainName)
	if !ok {
		return nil
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: domainspec.PodName(name)}}
}
