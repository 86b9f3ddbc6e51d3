package domain

import (
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// SerialLogFile is the file, relative to the VMI's directory on the node,
// that receives the serial console (domainspec.SerialLogFile).
const SerialLogFile = domainspec.SerialLogFile

func renderDevices(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	// No balloon: the Pod's memory limit is the guest's, not a target to
	// shrink towards.
	dom.Devices.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "none"}
	if a := vmi.Spec.Domain.Devices.AutoattachSerialConsole; a == nil || *a {
		port := uint(0)
		// Appending: the node agent bounds the log by copying its tail
		// aside and truncating it (nodeagent/storage), and only a file
		// opened O_APPEND is then written from its new end, not from the
		// old offset into a hole.
		src := func() *libvirtxml.DomainChardevSource {
			return &libvirtxml.DomainChardevSource{File: &libvirtxml.DomainChardevSourceFile{Path: SerialLogFile, Append: "on"}}
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
