package domain

import (
	"fmt"

	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func renderMemory(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	m := vmi.Spec.Domain.Memory
	if m == nil || m.Guest == nil {
		return fmt.Errorf("spec.domain.memory.guest is not set (was the VMI defaulted?)")
	}
	kib := m.Guest.Value() / 1024
	if kib <= 0 {
		return fmt.Errorf("spec.domain.memory.guest %s is below 1KiB", m.Guest)
	}
	dom.Memory = &libvirtxml.DomainMemory{Value: uint(kib), Unit: "KiB"}
	return nil
}
