package domain

import (
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// renderFeatures enables ACPI always: graceful shutdown is an ACPI power
// button press.
func renderFeatures(_ *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	dom.Features = &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}}
	return nil
}
