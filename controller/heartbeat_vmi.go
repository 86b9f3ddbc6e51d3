package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// Reasons the node heartbeat controller writes, in status.reason and the
// Ready condition of a VMI. A VM's status shows them as they are.
const (
	// ReasonNodeUnresponsive: the node's heartbeat Lease ran out; the
	// guest may or may not still run there.
	ReasonNodeUnresponsive = "NodeUnresponsive"
	// ReasonAwaitingFencing: unresponsive past the unknown timeout, and
	// the node is not fenced: podvirt waits for the fence before it fails
	// the VMI.
	ReasonAwaitingFencing = "AwaitingFencing"
	// ReasonNodeLost: unresponsive past the unknown timeout on a fenced
	// node: the guest is taken as stopped, the VMI Failed.
	ReasonNodeLost = "NodeLost"
)

// HeartbeatFieldOwner is the field manager of the heartbeat controller's
// writes, so managedFields tell who declared a VMI Unknown or lost.
const HeartbeatFieldOwner = "podvirt-node-heartbeat"

// syncVMI moves one VMI of the node along the heartbeat's rules, and says
// when it wants to be looked at again (0: on the next event).
func (r *NodeHeartbeatReconciler) syncVMI(ctx context.Context, hb heartbeat, vmi *v1alpha1.VirtualMachineInstance) (time.Duration, error) {
	phase := vmi.Status.Phase
	if phase == v1alpha1.Failed && vmi.Status.Reason == ReasonNodeLost {
		// Failed here: the launcher Pod goes, whatever an earlier pass
		// did not finish.
		return 0, r.release(ctx, vmi)
	}
	if phase != v1alpha1.Running && phase != v1alpha1.Scheduled && phase != v1alpha1.Unknown {
		return 0, nil
	}
	ready := meta.FindStatusCondition(vmi.Status.Conditions, v1alpha1.ConditionReady)
	unresponsive := phase != v1alpha1.Running && ready != nil && ready.Status == metav1.ConditionFalse &&
		(ready.Reason == ReasonNodeUnresponsive || ready.Reason == ReasonAwaitingFencing)
	switch {
	case !unresponsive && (!hb.expired || phase == v1alpha1.Unknown):
		// Answering, or Unknown for a reason not this controller's.
		return 0, nil
	case !unresponsive:
		return r.recheck(), r.markUnresponsive(ctx, hb, vmi)
	case !hb.expired && phase == v1alpha1.Scheduled:
		// The agent answers again and starts the guest itself; a Running
		// VMI it reports Running itself, so an Unknown one is left to it.
		return 0, r.clearUnresponsive(ctx, vmi)
	}
	since := ready.LastTransitionTime.Time
	if left := since.Add(r.unknownTimeout()).Sub(r.now()); left > 0 {
		return left, nil
	}
	fence, err := r.fenced(ctx, hb.node, vmi)
	if err != nil {
		return 0, err
	}
	if fence != "" {
		if err := r.markLost(ctx, hb, vmi, since, fence); err != nil {
			return 0, err
		}
		return 0, r.release(ctx, vmi)
	}
	if hb.expired && ready.Reason != ReasonAwaitingFencing {
		return r.recheck(), r.markAwaitingFencing(ctx, hb, vmi, since)
	}
	return r.recheck(), nil
}

func (r *NodeHeartbeatReconciler) markUnresponsive(ctx context.Context, hb heartbeat, vmi *v1alpha1.VirtualMachineInstance) error {
	orig := vmi.DeepCopy()
	msg := fmt.Sprintf("node %s stopped heart-beating: its node agent last renewed Lease %s at %s (duration %s); whether the guest still runs there is unknown",
		hb.node, hb.lease, formatTime(hb.renewed), hb.duration)
	if vmi.Status.Phase == v1alpha1.Running {
		// Unknown is a guest that ran; a Scheduled one keeps its phase
		// (its agent, back, starts it) and gets the condition only.
		vmi.Status.SetPhase(v1alpha1.Unknown, r.now())
		vmi.Status.Reason = ReasonNodeUnresponsive
	}
	putReady(vmi, ReasonNodeUnresponsive, msg, r.now())
	if err := r.patchStatus(ctx, orig, vmi); err != nil {
		return err
	}
	r.Metrics.unresponsive(hb.node)
	r.event(vmi, corev1.EventTypeWarning, ReasonNodeUnresponsive, msg)
	log.FromContext(ctx).Info("node unresponsive: VMI "+string(vmi.Status.Phase), "node", hb.node, "vmi", client.ObjectKeyFromObject(vmi))
	return nil
}

func (r *NodeHeartbeatReconciler) clearUnresponsive(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance) error {
	orig := vmi.DeepCopy()
	meta.RemoveStatusCondition(&vmi.Status.Conditions, v1alpha1.ConditionReady)
	return r.patchStatus(ctx, orig, vmi)
}

func (r *NodeHeartbeatReconciler) markAwaitingFencing(ctx context.Context, hb heartbeat, vmi *v1alpha1.VirtualMachineInstance, since time.Time) error {
	orig := vmi.DeepCopy()
	msg := fmt.Sprintf("node %s has not renewed its heartbeat since %s and is not fenced, so the guest may still run there: podvirt fails this VMI "+
		"(and a VirtualMachine starts it again) only once the node is fenced: once the node is down, taint it %s=nodeshutdown:NoExecute, or force-delete launcher Pod %s/%s (docs/operations.md)",
		hb.node, formatTime(hb.renewed), corev1.TaintNodeOutOfService, vmi.Namespace, launcherPodName(vmi))
	if vmi.Status.Phase == v1alpha1.Unknown {
		vmi.Status.Reason = ReasonAwaitingFencing
	}
	putReady(vmi, ReasonAwaitingFencing, msg, since)
	if err := r.patchStatus(ctx, orig, vmi); err != nil {
		return err
	}
	r.event(vmi, corev1.EventTypeWarning, ReasonAwaitingFencing, msg)
	return nil
}

func (r *NodeHeartbeatReconciler) markLost(ctx context.Context, hb heartbeat, vmi *v1alpha1.VirtualMachineInstance, since time.Time, fence string) error {
	orig := vmi.DeepCopy()
	msg := fmt.Sprintf("node %s stopped heart-beating (unresponsive since %s) and is fenced: %s; the guest is taken as stopped",
		hb.node, formatTime(since), fence)
	vmi.Status.SetPhase(v1alpha1.Failed, r.now())
	vmi.Status.Reason = ReasonNodeLost
	putReady(vmi, ReasonNodeLost, msg, since)
	if err := r.patchStatus(ctx, orig, vmi); err != nil {
		return err
	}
	r.Metrics.lost(hb.node)
	r.event(vmi, corev1.EventTypeWarning, ReasonNodeLost, msg)
	log.FromContext(ctx).Info("node lost: VMI Failed", "node", hb.node, "vmi", client.ObjectKeyFromObject(vmi), "fence", fence)
	return nil
}

// patchStatus writes the status as a merge patch from orig, under orig's
// resourceVersion: a node agent's report written meanwhile (Running
// again, Succeeded) is never overwritten; the conflict requeues.
func (r *NodeHeartbeatReconciler) patchStatus(ctx context.Context, orig, vmi *v1alpha1.VirtualMachineInstance) error {
	patch := client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})
	if err := r.Client.Status().Patch(ctx, vmi, patch, client.FieldOwner(HeartbeatFieldOwner)); err != nil {
		return fmt.Errorf("patching status.phase %s, status.conditions[Ready] %s: %w", vmi.Status.Phase, readyReason(vmi), err)
	}
	return nil
}

// putReady sets the Ready condition false for reason, with its transition
// time since: the unknown timeout is measured from it, so it is kept
// across the reasons of one unresponsive spell.
func putReady(vmi *v1alpha1.VirtualMachineInstance, reason, msg string, since time.Time) {
	c := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: msg,
		ObservedGeneration: vmi.Generation, LastTransitionTime: metav1.NewTime(since.Truncate(time.Second))}
	for i := range vmi.Status.Conditions {
		if vmi.Status.Conditions[i].Type == c.Type {
			vmi.Status.Conditions[i] = c
			return
		}
	}
	vmi.Status.Conditions = append(vmi.Status.Conditions, c)
}

func readyReason(vmi *v1alpha1.VirtualMachineInstance) string {
	if c := meta.FindStatusCondition(vmi.Status.Conditions, v1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return "(none)"
}

func (r *NodeHeartbeatReconciler) event(vmi *v1alpha1.VirtualMachineInstance, typ, reason, msg string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(vmi, nil, typ, reason, "NodeHeartbeat", "%s", msg)
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
