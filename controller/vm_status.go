package controller

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// The start backoff: a VMI that fails before it ever ran delays the next
// start by 10 s, doubling with each consecutive failure, up to 5 minutes.
const (
	StartBackoffInitial = 10 * time.Second
	StartBackoffMax     = 5 * time.Minute
)

// StartBackoff is the delay after the count-th consecutive start failure.
func StartBackoff(count int32) time.Duration {
	d := StartBackoffInitial
	for i := int32(1); i < count && d < StartBackoffMax; i++ {
		d *= 2
	}
	return min(d, StartBackoffMax)
}

// Node agent reasons (nodeagent/failure) the VM's status reads. They are
// strings of the VMI status, the contract between the two.
const (
	vmiReasonImagePullFailed  = "ImagePullFailed"
	vmiReasonImagePullTimeout = "ImagePullTimeout"
	vmiReasonGuestCrashed     = "GuestCrashed"
	vmiReasonGuestShutdown    = "GuestShutdown"
	vmiReasonDomainLost       = "DomainLost"
)

// vmiRan reports a VMI whose guest is known to have run: Running now,
// Running once (status.phaseTransitionTimestamps, as KubeVirt's VM
// controller asks), or ended in a way only a running guest ends. The
// reason alone cannot tell LauncherPodDeleted apart (the controller says
// it of a Pod gone before the guest started too), so a VMI Failed so
// without a Running transition counts as a start failure: one whose Pod
// went before it ran, and one from before the transitions were recorded.
func vmiRan(vmi *v1alpha1.VirtualMachineInstance) bool {
	switch {
	case vmi.Status.Phase == v1alpha1.Running, vmi.Status.Phase == v1alpha1.Succeeded,
		vmi.Status.Phase == v1alpha1.Unknown: // a Running VMI whose node stopped heart-beating
		return true
	case vmi.Status.Phase == v1alpha1.Failed:
		if vmi.Status.Entered(v1alpha1.Running) {
			return true
		}
		switch vmi.Status.Reason {
		case vmiReasonGuestCrashed, vmiReasonGuestShutdown, vmiReasonDomainLost:
			return true
		case ReasonNodeLost:
			// Its node was lost, not its start: no start backoff.
			return true
		}
	}
	return false
}

// syncStartFailure counts VMIs that failed before their guest ran (each
// once, by UID) and clears the count once one runs, or when the strategy
// does not restart VMIs on its own.
func (r *VMReconciler) syncStartFailure(vm *v1alpha1.VirtualMachine, vmi *v1alpha1.VirtualMachineInstance, strategy v1alpha1.RunStrategy) {
	switch {
	case strategy != v1alpha1.RunStrategyAlways && strategy != v1alpha1.RunStrategyRerunOnFailure && strategy != v1alpha1.RunStrategyOnce:
		vm.Status.StartFailure = nil
	case vmi == nil:
	case vmiRan(vmi):
		vm.Status.StartFailure = nil
	case vmi.Status.Phase == v1alpha1.Failed:
		sf := vm.Status.StartFailure
		if sf != nil && sf.LastFailedVMIUID == vmi.UID {
			return
		}
		count := int32(1)
		if sf != nil {
			count = sf.ConsecutiveFailCount + 1
		}
		retry := metav1.NewTime(r.now().Add(StartBackoff(count)).Truncate(time.Second))
		vm.Status.StartFailure = &v1alpha1.VirtualMachineStartFailure{
			ConsecutiveFailCount: count, LastFailedVMIUID: vmi.UID, RetryAfterTimestamp: &retry,
		}
	}
}

// backoffLeft is how long the start backoff still holds the next start.
func (r *VMReconciler) backoffLeft(vm *v1alpha1.VirtualMachine) time.Duration {
	sf := vm.Status.StartFailure
	if sf == nil || sf.RetryAfterTimestamp == nil {
		return 0
	}
	return max(sf.RetryAfterTimestamp.Sub(r.now()), 0)
}

// startExpected reports whether, with no VMI, the controller starts one
// now (not held back by the backoff).
func (r *VMReconciler) startExpected(vm *v1alpha1.VirtualMachine, strategy v1alpha1.RunStrategy) bool {
	request := vm.Annotations[v1alpha1.AnnotationStateChangeRequest]
	switch strategy {
	case v1alpha1.RunStrategyAlways:
		return r.backoffLeft(vm) == 0
	case v1alpha1.RunStrategyRerunOnFailure:
		return request == v1alpha1.StateChangeStart && r.backoffLeft(vm) == 0
	case v1alpha1.RunStrategyManual:
		return request == v1alpha1.StateChangeStart
	case v1alpha1.RunStrategyOnce:
		return vm.Status.LastRunVMIUID == ""
	}
	return false
}

// stopExpected reports whether the controller stops a VMI that runs.
func stopExpected(vm *v1alpha1.VirtualMachine, strategy v1alpha1.RunStrategy) bool {
	return strategy == v1alpha1.RunStrategyHalted || vm.Annotations[v1alpha1.AnnotationStateChangeRequest] == v1alpha1.StateChangeStop
}

// setStatus fills created, ready, the Ready condition and printableStatus.
func (r *VMReconciler) setStatus(vm *v1alpha1.VirtualMachine, vmi *v1alpha1.VirtualMachineInstance, launcher *corev1.Pod, strategy v1alpha1.RunStrategy) {
	vm.Status.Created = vmi != nil
	ready := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: ReasonVMINotExists,
		Message: "no VirtualMachineInstance exists", ObservedGeneration: vm.Generation}
	if vmi != nil {
		ready.Reason, ready.Message = "VMINotRunning", "the VirtualMachineInstance is "+string(vmi.Status.Phase)
		if c := meta.FindStatusCondition(vmi.Status.Conditions, v1alpha1.ConditionReady); c != nil {
			ready.Reason, ready.Message = c.Reason, c.Message
			if vmi.Status.Phase == v1alpha1.Running {
				ready.Status = c.Status
			}
		}
	}
	vm.Status.Ready = ready.Status == metav1.ConditionTrue
	meta.SetStatusCondition(&vm.Status.Conditions, ready)
	vm.Status.PrintableStatus = r.printableStatus(vm, vmi, launcher, strategy)
}

// printableStatus summarises the VM in one word, the first that applies
// in KubeVirt's order of precedence.
func (r *VMReconciler) printableStatus(vm *v1alpha1.VirtualMachine, vmi *v1alpha1.VirtualMachineInstance, launcher *corev1.Pod, strategy v1alpha1.RunStrategy) v1alpha1.VirtualMachinePrintableStatus {
	switch {
	case !vm.DeletionTimestamp.IsZero():
		return v1alpha1.VMStatusTerminating
	case vmi != nil && !isFinal(vmi) && (!vmi.DeletionTimestamp.IsZero() || stopExpected(vm, strategy)):
		return v1alpha1.VMStatusStopping
	case vmi != nil && vmi.Status.Phase == v1alpha1.Running:
		return v1alpha1.VMStatusRunning
	case vmi != nil && !isFinal(vmi) && podUnschedulable(launcher):
		return v1alpha1.VMStatusUnschedulable
	case vmi != nil && (vmi.Status.Reason == vmiReasonImagePullFailed || vmi.Status.Reason == vmiReasonImagePullTimeout || podWaiting(launcher, "ErrImagePull")):
		return v1alpha1.VMStatusErrImagePull
	case vmi != nil && podWaiting(launcher, "ImagePullBackOff"):
		return v1alpha1.VMStatusImagePullBackOff
	case vmi == nil && r.startExpected(vm, strategy), vmi != nil && !isFinal(vmi) && vmi.Status.Phase != v1alpha1.Unknown:
		return v1alpha1.VMStatusStarting
	case (vmi == nil || isFinal(vmi)) && vm.Status.StartFailure != nil && vm.Status.StartFailure.ConsecutiveFailCount > 0 &&
		(strategy == v1alpha1.RunStrategyAlways || strategy == v1alpha1.RunStrategyRerunOnFailure || strategy == v1alpha1.RunStrategyOnce):
		return v1alpha1.VMStatusCrashLoopBackOff
	case vmi == nil, isFinal(vmi):
		return v1alpha1.VMStatusStopped
	}
	return v1alpha1.VMStatusUnknown
}

// podUnschedulable reports a launcher Pod the scheduler found no node for.
func podUnschedulable(p *corev1.Pod) bool {
	if p == nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}

// podWaiting reports a launcher Pod with a container waiting for reason.
func podWaiting(p *corev1.Pod, reason string) bool {
	if p == nil {
		return false
	}
	for _, statuses := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, s := range statuses {
			if s.State.Waiting != nil && s.State.Waiting.Reason == reason {
				return true
			}
		}
	}
	return false
}

// statusEqual compares statuses ignoring condition transition times,
// which SetStatusCondition keeps when nothing else changed.
func statusEqual(a, b v1alpha1.VirtualMachineStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}
