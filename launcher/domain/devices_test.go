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
