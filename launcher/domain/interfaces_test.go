package domain

import (
	"testing"

	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func TestInterfaces(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Devices.Interfaces = []v1alpha1.Interface{
		{Name: "default", Masquerade: &v1alpha1.InterfaceMasquerade{}},
		{Name: "second", Model: "e1000", MacAddress: "02:00:00:00:00:01", BootOrder: ptr.To(uint(3))},
	}
	dom, err := Render(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	nics := dom.Devices.Interfaces
	if len(nics) != 2 {
		t.Fatalf("%d interfaces, want 2", len(nics))
	}
	for i, nic := range nics {
		// The node agent connects the ethernet device (Localize).
		if nic.Source == nil || nic.Source.Ethernet == nil || nic.Source.Bridge != nil || nic.Target != nil {
			t.Errorf("interface %d: source %+v target %+v, want a bare ethernet device", i, nic.Source, nic.Target)
		}
	}
	def, second := nics[0], nics[1]
	if def.Model == nil || def.Model.Type != "virtio" || def.MAC != nil || def.Boot != nil || def.Alias == nil || def.Alias.Name != "ua-default" {
		t.Errorf("default interface: model %+v mac %+v boot %+v alias %+v, want virtio, no MAC, no boot order", def.Model, def.MAC, def.Boot, def.Alias)
	}
	if def.ROM == nil || def.ROM.Enabled != "no" || second.ROM != nil {
		t.Errorf("option ROMs: default %+v second %+v, want none on the interface without a boot order only", def.ROM, second.ROM)
	}
	if second.Model == nil || second.Model.Type != "e1000" || second.MAC == nil || second.MAC.Address != "02:00:00:00:00:01" ||
		second.Boot == nil || second.Boot.Order != 3 || second.Alias.Name != "ua-second" {
		t.Errorf("second interface: model %+v mac %+v boot %+v alias %+v", second.Model, second.MAC, second.Boot, second.Alias)
	}
}
