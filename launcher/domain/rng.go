package domain

import (
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// renderRng attaches a virtio RNG fed by the host's /dev/urandom.
func renderRng(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	if vmi.Spec.Domain.Devices.Rng == nil {
		return nil
	}
	dom.Devices.RNGs = append(dom.Devices.RNGs, libvirtxml.DomainRNG{
		Model:   "virtio",
		Backend: &libvirtxml.DomainRNGBackend{Random: &libvirtxml.DomainRNGBackendRandom{Device: "/dev/urandom"}},
	})
	return nil
}
