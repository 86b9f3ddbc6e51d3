package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
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
// Fields KubeVirt has and podvirt does not support are rejected by the
// schema, naming the field, never dropped.
type VirtualMachineInstanceSpec struct {
	// Domain is the virtual hardware: CPU, memory, firmware and devices.
	Domain DomainSpec `json:"domain"`

	// Volumes are the storage the disks refer to, by name.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Volumes []Volume `json:"volumes,omitempty"`

	// Networks are the networks the interfaces refer to, by name. Defaults
	// to one pod network named "default" when no interface is given and
	// devices.autoattachPodInterface is not false.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Networks []Network `json:"networks,omitempty"`

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

	// Hostname is the guest's hostname (given to it through cloud-init).
	// Defaults to the VMI name.
	// +optional
	Hostname string `json:"hostname,omitempty"`

	// Subdomain is the guest's subdomain, as for Pods.
	// +optional
	Subdomain string `json:"subdomain,omitempty"`

	// EvictionStrategy is what happens when the node is drained. Only None
	// (the guest is shut down with its Pod) is supported: podvirt has no live
	// migration yet. Defaults to None.
	// +optional
	EvictionStrategy *EvictionStrategy `json:"evictionStrategy,omitempty"`
}

// EvictionStrategy is what happens to the guest when its node is drained.
type EvictionStrategy string

// Eviction strategies. KubeVirt's others (LiveMigrate, LiveMigrateIfPossible,
// External) are rejected by validation with a message saying why.
const (
	EvictionStrategyNone EvictionStrategy = "None"
)
