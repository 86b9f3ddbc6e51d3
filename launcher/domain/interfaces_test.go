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

// networkInterfaceMultiqueue: vhost with a queue per vCPU on virtio NICs
// (admission allows it only where that is one queue).
func TestNetworkMultiQueue(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.CPU = &v1alpha1.CPU{Cores: 1, Sockets: 1, Threads: 1}
	vmi.Spec.Domain.Devices.NetworkInterfaceMultiQueue = ptr.To(true)
	vmi.Spec.Domain.Devices.Interfaces = []v1alpha1.Interface{
		{Name: "default", Masquerade: &v1alpha1.InterfaceMasquerade{}},
		{Name: "legacy", Model: "e1000", Masquerade: &v1alpha1.InterfaceMasquerade{}},
	}
	dom, err := Render(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := dom.Devices.Interfaces[0].Driver; d == nil || d.Name != "vhost" || d.Queues != 1 {
		t.Errorf("virtio driver %+v, want vhost with 1 queue", d)
	}
	if d := dom.Devices.Interfaces[1].Driver; d != nil {
		t.Errorf("e1000 driver %+v, want none", d)
	}
	vmi.Spec.Domain.Devices.NetworkInterfaceMultiQueue = nil
	if dom, _ = Render(vmi, Options{}); dom.Devices.Interfaces[0].Driver != nil {
		t.Errorf("without multiqueue: driver %+v", dom.Devices.Interfaces[0].Driver)
	}
}
