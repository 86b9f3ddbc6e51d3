package v1alpha1

import (
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NewVMIFromTemplate returns the VirtualMachineInstance the VM's template
// describes: named and namespaced as the VM, with the template's labels,
// annotations and spec (copied, so the VM is left alone). It carries no
// owner reference: the controller adds it, and admission judges the VMI
// before the VM has a UID.
func (vm *VirtualMachine) NewVMIFromTemplate() *VirtualMachineInstance {
	return &VirtualMachineInstance{
		TypeMeta: metav1.TypeMeta{APIVersion: GroupVersion.String(), Kind: "VirtualMachineInstance"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        vm.Name,
			Namespace:   vm.Namespace,
			Labels:      maps.Clone(vm.Spec.Template.Metadata.Labels),
			Annotations: maps.Clone(vm.Spec.Template.Metadata.Annotations),
		},
		Spec: *vm.Spec.Template.Spec.DeepCopy(),
	}
}
