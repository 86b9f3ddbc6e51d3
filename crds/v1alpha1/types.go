package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VirtualMachineInstance is a running virtual machine. podvirt renders it into
// a launcher Pod whose node agent runs the guest under libvirt.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vmi;vmis,categories=all;podvirt
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.nodeName`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VirtualMachineInstance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired virtual machine. It cannot change after creation.
	Spec VirtualMachineInstanceSpec `json:"spec"`

	// Status is what podvirt observed of the virtual machine.
	// +optional
	Status VirtualMachineInstanceStatus `json:"status,omitempty"`
}

// VirtualMachineInstanceList is a list of VirtualMachineInstances.
//
// +kubebuilder:object:root=true
type VirtualMachineInstanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachineInstance `json:"items"`
}

// VirtualMachineInstanceSpec describes a virtual machine, in KubeVirt's shape.
type VirtualMachineInstanceSpec struct {
	// Domain is the virtual hardware: CPU, memory, firmware and devices.
	Domain DomainSpec `json:"domain"`

	// NodeSelector is copied to the launcher Pod: the VM runs only on nodes
	// carrying these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Affinity is copied to the launcher Pod.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// Tolerations are copied to the launcher Pod.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// PriorityClassName is copied to the launcher Pod.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// TerminationGracePeriodSeconds is how long the guest gets to power off
	// after an ACPI shutdown request before it is destroyed. Defaults to 30.
	// +kubebuilder:validation:Minimum=0
	// +optional
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
}

// DomainSpec is the virtual hardware of the guest.
type DomainSpec struct {
	// Resources are the launcher Pod's requests and limits for the guest.
	// requests.memory defaults to memory.guest and memory.guest to
	// requests.memory.
	// +optional
	Resources ResourceRequirements `json:"resources,omitempty"`

	// CPU is the guest's processor topology.
	// +optional
	CPU *CPU `json:"cpu,omitempty"`

	// Memory is the guest's memory.
	// +optional
	Memory *Memory `json:"memory,omitempty"`

	// Machine is the emulated machine. Defaults to type q35.
	// +optional
	Machine *Machine `json:"machine,omitempty"`

	// Firmware is how the guest boots.
	// +optional
	Firmware *Firmware `json:"firmware,omitempty"`

	// Devices are the guest's devices.
	// +optional
	Devices Devices `json:"devices,omitempty"`
}

// ResourceRequirements are the compute resources of the guest.
type ResourceRequirements struct {
	// Requests is the minimum amount of compute resources required.
	// +optional
	Requests corev1.ResourceList `json:"requests,omitempty"`
	// Limits is the maximum amount of compute resources allowed.
	// +optional
	Limits corev1.ResourceList `json:"limits,omitempty"`
}

// CPU is the guest's processor topology. vCPUs = cores * sockets * threads.
type CPU struct {
	// Cores is the number of cores per socket. Defaults to 1.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Cores uint32 `json:"cores,omitempty"`
	// Sockets is the number of sockets. Defaults to 1.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Sockets uint32 `json:"sockets,omitempty"`
	// Threads is the number of threads per core. Defaults to 1.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Threads uint32 `json:"threads,omitempty"`
}

// Memory is the guest's memory.
type Memory struct {
	// Guest is the memory the guest sees. Defaults to
	// domain.resources.requests.memory.
	// +optional
	Guest *resource.Quantity `json:"guest,omitempty"`
}

// Machine is the emulated machine.
type Machine struct {
	// Type is the QEMU machine type, for example q35 or pc. Defaults to q35.
	// +optional
	Type string `json:"type,omitempty"`
}

// Firmware is how the guest boots.
type Firmware struct {
	// KernelBoot boots the guest from a kernel and initrd taken from a
	// container image.
	// +optional
	KernelBoot *KernelBoot `json:"kernelBoot,omitempty"`
}

// KernelBoot boots the guest directly from a kernel (and optional initrd).
type KernelBoot struct {
	// KernelArgs is the kernel command line.
	// +optional
	KernelArgs string `json:"kernelArgs,omitempty"`
	// Container is the image that holds the kernel and initrd.
	// +optional
	Container *KernelBootContainer `json:"container,omitempty"`
}

// KernelBootContainer is an image holding a kernel and initrd at given paths.
type KernelBootContainer struct {
	// Image is the image reference, for example registry.example/guest:1.0.
	Image string `json:"image"`
	// KernelPath is the absolute path of the kernel inside the image.
	// +optional
	KernelPath string `json:"kernelPath,omitempty"`
	// InitrdPath is the absolute path of the initrd inside the image.
	// +optional
	InitrdPath string `json:"initrdPath,omitempty"`
	// ImagePullPolicy is when the node pulls the image. Defaults to
	// IfNotPresent.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
}

// Devices are the guest's devices.
type Devices struct {
	// AutoattachSerialConsole attaches a serial console to the guest.
	// Defaults to true.
	// +optional
	AutoattachSerialConsole *bool `json:"autoattachSerialConsole,omitempty"`
}

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
	// Unknown: the node agent lost track of the guest.
	Unknown VirtualMachineInstancePhase = "Unknown"
)

// Condition types of a VirtualMachineInstance.
const (
	// ConditionReady is true while the guest runs.
	ConditionReady = "Ready"
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
	// Reason says why the VMI is in its phase, for Failed and Succeeded.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Conditions are the latest observations of the VMI's state.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
