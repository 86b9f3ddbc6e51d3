// Package v1alpha1 holds podvirt's API types: VirtualMachineInstance, whose
// spec keeps KubeVirt's kubevirt.io/v1 field names and shapes for the subset
// podvirt supports, so a KubeVirt manifest applies after changing only its
// apiVersion.
//
// +kubebuilder:object:generate=true
// +groupName=podvirt.io
package v1alpha1
