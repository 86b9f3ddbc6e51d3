package domain

import (
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// SerialLogFile is the file, relative to the VMI's directory on the node,
// that receives the serial console (domainspec.SerialLogFile).
const SerialLogFile = domainspec.SerialLogFile

// SerialSocketFile is the serial console's unix socket, relative to the
// VMI's directory on the node (domainspec.SerialSocketFile).
const SerialSocketFile = domainspec.SerialSocketFile

func renderDevices(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	// No balloon: the Pod's memory limit is the guest's, not a target to
	// shrink towards.
	dom.Devices.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "none"}
	if a := vmi.Spec.Domain.Devices.AutoattachSerialConsole; a == nil || *a {
		port := uint(0)
		dom.Devices.Serials = []libvirtxml.DomainSerial{{
			Source: serialSource(),
			Log:    serialLog(),
			Target: &libvirtxml.DomainSerialTarget{Port: &port},
		}}
		// libvirt makes console 0 of target type serial an alias of serial
		// port 0, which must then say the same.
		dom.Devices.Consoles = []libvirtxml.DomainConsole{{
			Source: serialSource(),
			Log:    serialLog(),
			Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &port},
		}}
	}
	return nil
}

// serialSource is the serial port's unix socket, which QEMU binds
// (mode bind: libvirt starts the chardev as a server that never waits for
// a client, so the guest boots with no console attached, and accepts a new
// client after one leaves). `podvirtctl console` connects to it from the
// launcher container.
func serialSource() *libvirtxml.DomainChardevSource {
	return &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind", Path: SerialSocketFile}}
}

// serialLog is where QEMU copies everything the guest writes to the serial
// port, whether a console is connected or not (QEMU 5.2 and later log what
// a disconnected socket drops), so `kubectl logs` of the launcher Pod and
// the node's log rotation keep working. Appending: the node agent bounds
// the log by copying its tail aside and truncating it (nodeagent/storage),
// and only a file opened O_APPEND is then written from its new end, not
// from the old offset into a hole.
func serialLog() *libvirtxml.DomainChardevLog {
	return &libvirtxml.DomainChardevLog{File: SerialLogFile, Append: "on"}
}
