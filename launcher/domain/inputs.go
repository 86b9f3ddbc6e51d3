package domain

import (
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// renderInputs renders each input device as KubeVirt's converter does
// (compute/input_device.go): its type and bus (usb when none), model
// virtio on the virtio bus, alias ua-<name>. On x86_64 KubeVirt adds no
// input of its own.
func renderInputs(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	for _, in := range vmi.Spec.Domain.Devices.Inputs {
		bus, typ := in.Bus, in.Type
		if bus == "" {
			bus = "usb"
		}
		if typ == "" {
			typ = "tablet"
		}
		d := libvirtxml.DomainInput{Type: typ, Bus: bus, Alias: &libvirtxml.DomainAlias{Name: "ua-" + in.Name}}
		if bus == "virtio" {
			d.Model = "virtio"
		}
		dom.Devices.Inputs = append(dom.Devices.Inputs, d)
	}
	return nil
}
