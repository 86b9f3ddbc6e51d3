package nodeagent

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/podvirt/podvirt/domainspec"
)

// Resync has every launcher Pod of this node reconciled now, whatever
// delay their last failures earned them. The heartbeat calls it when the
// API server answers again after renewals failed: while this node was cut
// off, each reconcile failed and backed off (up to minutes), and its VMIs
// went Unknown; they are reported Running again at once, not at the end
// of that backoff. A no-op before SetupWithManager.
func (r *Reconciler) Resync(ctx context.Context) error {
	if r.resync == nil {
		return nil
	}
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.HasLabels{domainspec.LabelVMI}); err != nil {
		return fmt.Errorf("listing this node's launcher Pods: %w", err)
	}
	for i := range pods.Items {
		select {
		case r.resync <- event.TypedGenericEvent[client.Object]{Object: &pods.Items[i]}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
