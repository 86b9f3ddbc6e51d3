package nodeagent

import (
	"context"
	"time"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// eventPump turns libvirt lifecycle events into reconcile requests for the
// domains' launcher Pods, resubscribing whenever the stream ends.
type eventPump struct {
	source hypervisor.EventSource
	out    chan event.TypedGenericEvent[client.Object]
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: each node
// agent watches its own libvirt.
func (p *eventPump) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable.
func (p *eventPump) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("libvirt-events")
	for ctx.Err() == nil {
		names, err := p.source.DomainEvents(ctx)
		if err != nil {
			logger.Error(err, "subscribing again in 2s")
		} else {
			for name := range names {
				if obj := launcherPodOf(name); obj != nil {
					select {
					case p.out <- event.TypedGenericEvent[client.Object]{Object: obj}:
					case <-ctx.Done():
					}
				}
			}
		}
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
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
