package domain

import (
	"testing"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func TestInputs(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Devices.Inputs = []v1alpha1.Input{
		{Name: "tablet1", Type: "tablet", Bus: "virtio"},
		{Name: "tablet2", Type: "tablet", Bus: "usb"},
		{Name: "tablet3"},
	}
	wantXML(t, renderXML(t, vmi), []string{
		`<input type="tablet" bus="virtio" model="virtio"><alias name="ua-tablet1"></alias></input>`,
		`<input type="tablet" bus="usb"><alias name="ua-tablet2"></alias></input>`,
		`<input type="tablet" bus="usb"><alias name="ua-tablet3"></alias></input>`,
	})
	wantXML(t, renderXML(t, tinyVMI()), nil, "<input")
}
