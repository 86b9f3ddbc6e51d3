package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// fenced says how the node of an unresponsive VMI is known to run none of
// its guests any more, or "" when it is not known. The rule
// (docs/operations.md): an expired Lease never fences a node, because a
// node cut off from the API server may still run the guest. What fences
// is what Kubernetes itself takes as "this node is down":
//
//   - the node carries the node.kubernetes.io/out-of-service taint, which
//     an administrator (or a remediation operator) sets once the node is
//     shut down (non-graceful node shutdown, KEP-2268), and after which
//     the kube-controller-manager force-deletes the node's Pods;
//   - the launcher Pod was force-deleted (grace period 0), as
//     `kubectl delete pod --force --grace-period=0` does, the runbook of
//     a node known to be down, and as the Pod garbage collector does to
//     the Pods of a node removed from the cluster or out of service;
//   - the launcher Pod is gone (its finalizer released by hand).
func (r *NodeHeartbeatReconciler) fenced(ctx context.Context, node string, vmi *v1alpha1.VirtualMachineInstance) (string, error) {
	n := &corev1.Node{}
	switch err := r.reader().Get(ctx, types.NamespacedName{Name: node}, n); {
	case err == nil:
		for _, t := range n.Spec.Taints {
			if t.Key == corev1.TaintNodeOutOfService {
				return fmt.Sprintf("node %s is tainted %s", node, corev1.TaintNodeOutOfService), nil
			}
		}
	case !apierrors.IsNotFound(err):
		// A Node removed from the cluster fences nothing by itself: the
		// Pod garbage collector force-deletes its Pods, which does.
		return "", fmt.Errorf("reading Node %s (spec.taints): %w", node, err)
	}
	p, err := r.launcherPod(ctx, vmi)
	switch {
	case err != nil:
		return "", err
	case p == nil:
		return fmt.Sprintf("launcher Pod %s/%s is gone", vmi.Namespace, launcherPodName(vmi)), nil
	case p.DeletionTimestamp != nil && p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds == 0:
		return fmt.Sprintf("launcher Pod %s/%s was force-deleted (grace period 0)", p.Namespace, p.Name), nil
	}
	return "", nil
}

// release lets the launcher Pod of a VMI lost with its node go: it
// force-deletes the Pod and removes the node agent's finalizer, which no
// agent of a fenced node will ever remove. Without this the Pod, and with
// it the VMI and a VirtualMachine's next VMI (which has the same name),
// would wait for the node forever. The domain, if that node ever runs
// podvirt again, is the orphan its agent's garbage collection removes.
func (r *NodeHeartbeatReconciler) release(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance) error {
	p, err := r.launcherPod(ctx, vmi)
	if err != nil || p == nil {
		return err
	}
	if p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds > 0 {
		// Not deleted yet, or deleted gracefully (the launcher
		// controller's delete of a Failed VMI's Pod): a grace period
		// waits for a kubelet that may never answer.
		if err := r.Client.Delete(ctx, p, client.GracePeriodSeconds(0), client.Preconditions{UID: &p.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("force-deleting launcher Pod %s: %w", p.Name, err)
		}
		r.event(vmi, corev1.EventTypeNormal, "SuccessfulDelete", fmt.Sprintf("force-deleted launcher Pod %s of node %s, which is fenced", p.Name, p.Spec.NodeName))
		if p, err = r.launcherPod(ctx, vmi); err != nil || p == nil {
			return err
		}
	}
	if !controllerutil.ContainsFinalizer(p, domainspec.FinalizerDomain) {
		return nil
	}
	orig := p.DeepCopy()
	controllerutil.RemoveFinalizer(p, domainspec.FinalizerDomain)
	if err := r.Client.Patch(ctx, p, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}), client.FieldOwner(HeartbeatFieldOwner)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("removing metadata.finalizers %s from launcher Pod %s: %w", domainspec.FinalizerDomain, p.Name, err)
	}
	log.FromContext(ctx).Info("released the launcher Pod of a VMI lost with its node", "pod", client.ObjectKeyFromObject(p), "node", p.Spec.NodeName)
	return nil
}

// launcherPod reads the VMI's launcher Pod from the API server: nil when
// it is gone, or when the Pod of that name belongs to another VMI.
func (r *NodeHeartbeatReconciler) launcherPod(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance) (*corev1.Pod, error) {
	p := &corev1.Pod{}
	err := r.reader().Get(ctx, types.NamespacedName{Namespace: vmi.Namespace, Name: launcherPodName(vmi)}, p)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading launcher Pod %s: %w", launcherPodName(vmi), err)
	case p.Labels[domainspec.LabelVMIUID] != string(vmi.UID):
		return nil, nil
	}
	return p, nil
}

func launcherPodName(vmi *v1alpha1.VirtualMachineInstance) string {
	if vmi.Status.LauncherPodName != "" {
		return vmi.Status.LauncherPodName
	}
	return domainspec.PodName(vmi.Name)
}
