package domain

import (
	"testing"

	"k8s.io/utils/ptr"
)

func TestSerialConsole(t *testing.T) {
	dom, err := Render(tinyVMI(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dom.Devices.Serials) != 1 || dom.Devices.Serials[0].Source.File.Path != SerialLogFile {
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
// serial port 0 and a serial console on it, both into the serial log.
func TestSerialConsoleDefault(t *testing.T) {
	for _, attach := range []*bool{nil, ptr.To(true)} {
		vmi := tinyVMI()
		vmi.Spec.Domain.Devices.AutoattachSerialConsole = attach
		dom, err := Render(vmi, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, c := dom.Devices.Serials, dom.Devices.Consoles
		if len(s) != 1 || s[0].Source.File.Path != SerialLogFile || s[0].Source.File.Append != "on" || s[0].Target == nil || s[0].Target.Port == nil || *s[0].Target.Port != 0 {
			t.Errorf("autoattach %v: serials %+v", attach, s)
		}
		if len(c) != 1 || c[0].Source.File.Path != SerialLogFile || c[0].Source.File.Append != "on" || c[0].Target == nil || c[0].Target.Type != "serial" || c[0].Target.Port == nil || *c[0].Target.Port != 0 {
			t.Errorf("autoattach %v: consoles %+v", attach, c)
		}
	}
}
