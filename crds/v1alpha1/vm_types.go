package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// VirtualMachine keeps a VirtualMachineInstance of the same name running,
// stopped or restarted according to its run strategy, in KubeVirt's
// kubevirt.io/v1 shape. The VMI it creates is owned by it and goes with it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vm;vms,categories=all;podvirt
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.printableStatus`,description="Human readable status"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=='Ready')].status`
type VirtualMachine struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state: the VMI template and when it should run.
	Spec VirtualMachineSpec `json:"spec"`

	// Status is what the controller observed of the VM and its VMI.
	// +optional
	Status VirtualMachineStatus `json:"status,omitempty"`
}

// VirtualMachineList is a list of VirtualMachines.
//
// +kubebuilder:object:root=true
type VirtualMachineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachine `json:"items"`
}

// VirtualMachineSpec is a VirtualMachine's desired state.
type VirtualMachineSpec struct {
	// Running is the older way to say whether the VM should run: true is
	// runStrategy Always, false is Halted. Deprecated: use runStrategy.
	// Setting both is refused.
	// +optional
	Running *bool `json:"running,omitempty"`

	// RunStrategy says when the VMI runs. Always: a VMI is kept running and
	// recreated whenever it ends. RerunOnFailure: recreated only when it
	// fails, not when the guest powers off. Manual: started and stopped only
	// by the user (podvirtctl start, stop, restart). Halted: no VMI runs.
	// Once: run one time and never again once it ends. Defaults to Halted
	// when neither runStrategy nor running is set.
	// +optional
	RunStrategy *RunStrategy `json:"runStrategy,omitempty"`

	// Template is the VMI the controller creates, named as the VM.
	Template VirtualMachineInstanceTemplateSpec `json:"template"`
}

// RunStrategy says when a VirtualMachine's VMI runs.
// +kubebuilder:validation:Enum=Always;RerunOnFailure;Manual;Halted;Once
type RunStrategy string

// Run strategies.
const (
	// RunStrategyAlways keeps a VMI running: it is recreated whenever it
	// ends, failed or powered off.
	RunStrategyAlways RunStrategy = "Always"
	// RunStrategyRerunOnFailure recreates the VMI only when it failed.
	RunStrategyRerunOnFailure RunStrategy = "RerunOnFailure"
	// RunStrategyManual leaves starting and stopping to the user.
	RunStrategyManual RunStrategy = "Manual"
	// RunStrategyHalted keeps the VM stopped: a running VMI is deleted.
	RunStrategyHalted RunStrategy = "Halted"
	// RunStrategyOnce runs the VMI one time.
	RunStrategyOnce RunStrategy = "Once"
)

// VirtualMachineInstanceTemplateSpec is the VMI a VirtualMachine creates.
type VirtualMachineInstanceTemplateSpec struct {
	// Metadata holds the labels and annotations the VMI gets.
	// +optional
	Metadata VirtualMachineInstanceTemplateMeta `json:"metadata,omitempty"`

	// Spec is the VMI's spec, defaulted and validated as a VMI's.
	Spec VirtualMachineInstanceSpec `json:"spec"`
}

// VirtualMachineInstanceTemplateMeta is the part of a VMI's metadata a
// template sets. The name, namespace and owner are the VM's to give.
type VirtualMachineInstanceTemplateMeta struct {
	// Labels are copied to the VMI.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are copied to the VMI.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// RunStrategy is the VM's effective run strategy: spec.runStrategy, else
// spec.running (true is Always, false Halted), else Halted.
func (vm *VirtualMachine) RunStrategy() RunStrategy {
	switch {
	case vm.Spec.RunStrategy != nil:
		return *vm.Spec.RunStrategy
	case vm.Spec.Running != nil && *vm.Spec.Running:
		return RunStrategyAlways
	default:
		return RunStrategyHalted
	}
}

// VirtualMachinePrintableStatus is a one-word summary of a VM's state, for
// people (kubectl get shows it as STATUS). Programs should read the
// conditions instead.
type VirtualMachinePrintableStatus string

// Printable statuses, as KubeVirt names them.
const (
	// VMStatusStopped: no VMI runs and none is expected to.
	VMStatusStopped VirtualMachinePrintableStatus = "Stopped"
	// VMStatusProvisioning: the VM's resources are being prepared.
	VMStatusProvisioning VirtualMachinePrintableStatus = "Provisioning"
	// VMStatusStarting: a VMI is created or expected and the guest is not
	// up yet.
	VMStatusStarting VirtualMachinePrintableStatus = "Starting"
	// VMStatusRunning: the guest runs.
	VMStatusRunning VirtualMachinePrintableStatus = "Running"
	// VMStatusStopping: the VMI is being deleted, or is expected to stop.
	VMStatusStopping VirtualMachinePrintableStatus = "Stopping"
	// VMStatusTerminating: the VM itself is being deleted.
	VMStatusTerminating VirtualMachinePrintableStatus = "Terminating"
	// VMStatusCrashLoopBackOff: the VMI failed to start repeatedly; the next
	// start waits for status.startFailure.retryAfterTimestamp.
	VMStatusCrashLoopBackOff VirtualMachinePrintableStatus = "CrashLoopBackOff"
	// VMStatusUnschedulable: no node can take the launcher Pod.
	VMStatusUnschedulable VirtualMachinePrintableStatus = "ErrorUnschedulable"
	// VMStatusErrImagePull: an image of the launcher Pod cannot be pulled.
	VMStatusErrImagePull VirtualMachinePrintableStatus = "ErrImagePull"
	// VMStatusImagePullBackOff: pulling an image of the launcher Pod is
	// retried after failures.
	VMStatusImagePullBackOff VirtualMachinePrintableStatus = "ImagePullBackOff"
	// VMStatusUnknown: the state cannot be told.
	VMStatusUnknown VirtualMachinePrintableStatus = "Unknown"
)

// Condition types of a VirtualMachine. Ready is the VMI's ready condition
// (ConditionReady) as the VM reports it.
const (
	// VMConditionFailure is true when the controller cannot do what the
	// run strategy asks, e.g. a VMI of the VM's name it does not own.
	VMConditionFailure = "Failure"
)

// VirtualMachineStatus is what the controller observed of a VM.
type VirtualMachineStatus struct {
	// PrintableStatus is a one-word summary of the VM's state, for people.
	// +optional
	PrintableStatus VirtualMachinePrintableStatus `json:"printableStatus,omitempty"`
	// Created is true while the VM's VMI exists.
	// +optional
	Created bool `json:"created,omitempty"`
	// Ready is true while the VMI runs and is ready.
	// +optional
	Ready bool `json:"ready,omitempty"`
	// RunStrategy is the run strategy the controller last acted on.
	// +optional
	RunStrategy RunStrategy `json:"runStrategy,omitempty"`
	// ObservedGeneration is the VM generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// StartFailure counts VMIs that failed before they ever ran, so that
	// restarts back off (10 s doubling to 5 minutes). Cleared once a VMI
	// runs.
	// +optional
	StartFailure *VirtualMachineStartFailure `json:"startFailure,omitempty"`
	// LastRunVMIUID is the UID of the last VMI this VM ran; with
	// runStrategy Once, the VM never starts another.
	// +optional
	LastRunVMIUID types.UID `json:"lastRunVMIUID,omitempty"`
	// Conditions are the latest observations of the VM's state: Ready, and
	// Failure when the controller cannot act.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// VirtualMachineStartFailure tracks consecutive start failures.
type VirtualMachineStartFailure struct {
	// ConsecutiveFailCount is how many VMIs in a row failed before they ran.
	ConsecutiveFailCount int32 `json:"consecutiveFailCount"`
	// LastFailedVMIUID is the UID of the last VMI counted, so one failure
	// is counted once.
	// +optional
	LastFailedVMIUID types.UID `json:"lastFailedVMIUID,omitempty"`
	// RetryAfterTimestamp is when the next VMI may be created.
	// +optional
	RetryAfterTimestamp *metav1.Time `json:"retryAfterTimestamp,omitempty"`
}

func init() {
	SchemeBuilder.Register(&VirtualMachine{}, &VirtualMachineList{})
}

// AnnotationStateChangeRequest on a VirtualMachine asks the controller to
// start (StateChangeStart) or stop (StateChangeStop) the VM's VMI without
// changing its run strategy: podvirtctl start, stop and restart use it for
// the Manual and RerunOnFailure strategies (KubeVirt's state change
// requests, which it keeps in the status; an annotation needs only update
// permission on the VM). The controller removes it once acted on.
const AnnotationStateChangeRequest = "podvirt.io/state-change-request"

// State change requests.
const (
	StateChangeStart = "Start"
	StateChangeStop  = "Stop"
)
