package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// VirtualMachineInstancePhase is where a VirtualMachineInstance is in its life.
// +kubebuilder:validation:Enum=Pending;Scheduling;Scheduled;Running;Succeeded;Failed;Unknown
type VirtualMachineInstancePhase string

// The phases of a VirtualMachineInstance.
const (
	// Pending: admitted, no launcher Pod yet.
	Pending VirtualMachineInstancePhase = "Pending"
	// Scheduling: the launcher Pod exists and waits for a node.
	Scheduling VirtualMachineInstancePhase = "Scheduling"
	// Scheduled: the launcher Pod is bound to a node; the guest is not up yet.
	Scheduled VirtualMachineInstancePhase = "Scheduled"
	// Running: the guest is running.
	Running VirtualMachineInstancePhase = "Running"
	// Succeeded: the guest powered off.
	Succeeded VirtualMachineInstancePhase = "Succeeded"
	// Failed: the guest crashed or could not start.
	Failed VirtualMachineInstancePhase = "Failed"
	// Unknown: the guest was running, and its node stopped heart-beating:
	// whether it still runs is not known (docs/operations.md).
	Unknown VirtualMachineInstancePhase = "Unknown"
)

// Condition types of a VirtualMachineInstance.
const (
	// ConditionReady is true while the guest runs.
	ConditionReady = "Ready"
	// ConditionSynchronized is false while the controller cannot make the
	// launcher Pod yet, with the reason (as KubeVirt's: a
	// persistentVolumeClaim that does not exist, FailedPvcNotFound).
	ConditionSynchronized = "Synchronized"
)

// VirtualMachineInstanceStatus is what podvirt observed of the guest.
type VirtualMachineInstanceStatus struct {
	// Phase is where the VMI is in its life.
	// +optional
	Phase VirtualMachineInstancePhase `json:"phase,omitempty"`
	// NodeName is the node that runs the guest.
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// LauncherPodName is the name of the launcher Pod.
	// +optional
	LauncherPodName string `json:"launcherPodName,omitempty"`
	// Reason says why the VMI is in its phase, for Failed, Succeeded and
	// Unknown.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Conditions are the latest observations of the VMI's state.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// PhaseTransitionTimestamps are when the VMI first entered each phase
	// it has been in, oldest first, as KubeVirt's: a phase entered again
	// (Running after Unknown) keeps its first timestamp, so the list holds
	// at most one entry per phase. A Failed VMI whose list has Running ran
	// its guest, whatever its reason, and is no start failure of its
	// VirtualMachine. VMIs from before podvirt recorded them have none
	// for the phases they were in then.
	// +listType=atomic
	// +optional
	PhaseTransitionTimestamps []VirtualMachineInstancePhaseTransitionTimestamp `json:"phaseTransitionTimestamps,omitempty"`
}

// VirtualMachineInstancePhaseTransitionTimestamp is when a VMI entered a
// phase.
type VirtualMachineInstancePhaseTransitionTimestamp struct {
	// Phase is the phase the VMI entered.
	// +optional
	Phase VirtualMachineInstancePhase `json:"phase,omitempty"`
	// PhaseTransitionTimestamp is when it entered it, to the second.
	// +optional
	PhaseTransitionTimestamp metav1.Time `json:"phaseTransitionTimestamp,omitempty"`
}
