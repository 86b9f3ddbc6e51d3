package domain

import (
	"fmt"

	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// Arch is the only guest architecture rendered for now.
const Arch = "x86_64"

func kernelBootContainer(vmi *v1alpha1.VirtualMachineInstance) *v1alpha1.KernelBootContainer {
	fw := vmi.Spec.Domain.Firmware
	if fw == nil || fw.KernelBoot == nil {
		return nil
	}
	return fw.KernelBoot.Container
}

func renderFirmware(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	machine := ""
	if m := vmi.Spec.Domain.Machine; m != nil {
		machine = m.Type
	}
	dom.OS = &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Arch: Arch, Machine: machine, Type: "hvm"}}
	c := kernelBootContainer(vmi)
	if c == nil {
		return fmt.Errorf("spec.domain.firmware.kernelBoot.container is required")
	}
	// Paths inside the image; the node agent resolves them (Localize).
	dom.OS.Kernel = c.KernelPath
	dom.OS.Initrd = c.InitrdPath
	dom.OS.Cmdline = vmi.Spec.Domain.Firmware.KernelBoot.KernelArgs
	return nil
}
