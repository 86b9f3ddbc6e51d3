package domain

import (
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// SerialLogFile is the file, relative to the VMI's directory on the node,
// that receives the serial console.
const SerialLogFile = "serial.log"

func renderDevices(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	// No balloon: the Pod's memory limit is the guest's, not a target to
	// shrink towards.
	dom.Devices.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "none"}
	if a := vmi.Spec.Domain.Devices.AutoattachSerialConsole; a == nil || *a {
		port := uint(0)
		src := func() *libvirtxml.DomainChardevSource {
			return &libvirtxml.DomainChardevSource{File: &libvirtxml.DomainChardevSourceFile{Path: SerialLogFile}}
		}
		dom.Devices.Serials = []libvirtxml.DomainSerial{{
			Source: src(),
			Target: &libvirtxml.DomainSerialTarget{Port: &port},
		}}
		dom.Devices.Consoles = []libvirtxml.DomainConsole{{
			Source: src(),
			Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &port},
		}}
	}
	return nil
}
