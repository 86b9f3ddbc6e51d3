package domain

import (
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// renderInterfaces renders each interface as an ethernet device for the
// node agent to connect to the launcher Pod's network namespace.
func renderInterfaces(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	for _, iface := range vmi.Spec.Domain.Devices.Interfaces {
		model := iface.Model
		if model == "" {
			model = "virtio"
		}
		nic := libvirtxml.DomainInterface{
			Source: &libvirtxml.DomainInterfaceSource{Ethernet: &libvirtxml.DomainInterfaceSourceEthernet{}},
			Model:  &libvirtxml.DomainInterfaceModel{Type: model},
			Alias:  &libvirtxml.DomainAlias{Name: "ua-" + iface.Name},
		}
		if q := networkQueues(vmi); q > 0 && model == "virtio" {
			// As KubeVirt's converter (network/configurator.go
			// newVirtioDriver): vhost with one queue per vCPU. Admission
			// allows it only where that is one queue: the node agent's
			// tap has one.
			nic.Driver = &libvirtxml.DomainInterfaceDriver{Name: "vhost", Queues: q}
		}
		if iface.MacAddress != "" {
			nic.MAC = &libvirtxml.DomainInterfaceMAC{Address: iface.MacAddress}
		}
		if iface.BootOrder != nil {
			nic.Boot = &libvirtxml.DomainDeviceBoot{Order: *iface.BootOrder}
		} else {
			// As KubeVirt's converter on x86_64 (tapBindingOptions): a NIC
			// without a boot order loads no option ROM, so the firmware
			// never falls back to network boot from it.
			nic.ROM = &libvirtxml.DomainROM{Enabled: "no"}
		}
		dom.Devices.Interfaces = append(dom.Devices.Interfaces, nic)
	}
	return nil
}

// MaxNetworkQueues caps the queues of a multiqueue interface, as
// KubeVirt's converter does (network/virtio-queues.go).
const MaxNetworkQueues = 256

// networkQueues is the queue count of a virtio interface: vCPUs (at most
// MaxNetworkQueues) with devices.networkInterfaceMultiqueue, else 0
// (libvirt's default, one).
func networkQueues(vmi *v1alpha1.VirtualMachineInstance) uint {
	mq := vmi.Spec.Domain.Devices.NetworkInterfaceMultiQueue
	if mq == nil || !*mq {
		return 0
	}
	return min(VCPUs(vmi), MaxNetworkQueues)
}
