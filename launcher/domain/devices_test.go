package domain

import (
	"testing"

	"k8s.io/utils/ptr"
	"libvirt.org/go/libvirtxml"
)

func TestSerialConsole(t *testing.T) {
	dom, err := Render(tinyVMI(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dom.Devices.Serials) != 1 || dom.Devices.Serials[0].Source.UNIX.Path != SerialSocketFile || dom.Devices.Serials[0].Log.File != SerialLogFile {
		t.Errorf("serials %+v", dom.Devices.Serials)
	}
	if dom.Devices.MemBalloon == nil || dom.Devices.MemBalloon.Model != "none" {
		t.Errorf("memballoon %+v", dom.Devices.MemBalloon)
	}
	vmi := tinyVMI()
	vmi.Spec.Domain.Devices.AutoattachSerialConsole = ptr.To(false)
	if dom, _ = Render(vmi, Options{}); len(dom.Devices.Serials)+len(dom.Devices.Consoles) != 0 {
		t.Errorf("serial console rendered although autoattachSerialConsole is false")
	}
}

// The serial console is attached unless autoattachSerialConsole is false:
// serial port 0 and a serial console on it, both a unix socket QEMU binds
// (the console's) and logged, appending, into the serial log.
func TestSerialConsoleDefault(t *testing.T) {
	for _, attach := range []*bool{nil, ptr.To(true)} {
		vmi := tinyVMI()
		vmi.Spec.Domain.Devices.AutoattachSerialConsole = attach
		dom, err := Render(vmi, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, c := dom.Devices.Serials, dom.Devices.Consoles
		if len(s) != 1 || !consoleSocket(s[0].Source, s[0].Log) || s[0].Target == nil || s[0].Target.Port == nil || *s[0].Target.Port != 0 {
			t.Errorf("autoattach %v: serials %+v", attach, s)
		}
		if len(c) != 1 || !consoleSocket(c[0].Source, c[0].Log) || c[0].Target == nil || c[0].Target.Type != "serial" || c[0].Target.Port == nil || *c[0].Target.Port != 0 {
			t.Errorf("autoattach %v: consoles %+v", attach, c)
		}
	}
}

// consoleSocket says whether a chardev is the serial console's: a unix
// socket QEMU binds (server, no reconnect) logged, appending, to the serial
// log.
func consoleSocket(src *libvirtxml.DomainChardevSource, log *libvirtxml.DomainChardevLog) bool {
	return src != nil && src.File == nil && src.UNIX != nil && src.UNIX.Mode == "bind" && src.UNIX.Path == SerialSocketFile &&
		src.UNIX.Reconnect == nil && log != nil && log.File == SerialLogFile && log.Append == "on"
}
