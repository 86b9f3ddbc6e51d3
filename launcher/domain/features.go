package domain

import (
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// renderFeatures enables ACPI always (graceful shutdown is an ACPI power
// button press), and APIC and SMM as asked.
func renderFeatures(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	dom.Features = &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}}
	f := vmi.Spec.Domain.Features
	if f == nil {
		return nil
	}
	if a := f.APIC; a != nil && (a.Enabled == nil || *a.Enabled) {
		dom.Features.APIC = &libvirtxml.DomainFeatureAPIC{}
		if a.EndOfInterrupt {
			dom.Features.APIC.EOI = "on"
		}
	}
	if s := f.SMM; s != nil && (s.Enabled == nil || *s.Enabled) {
		dom.Features.SMM = &libvirtxml.DomainFeatureSMM{State: "on"}
	}
	return nil
}
