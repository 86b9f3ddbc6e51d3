package domain

import (
	"testing"

	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func TestACPIAlwaysOn(t *testing.T) {
	dom, err := Render(tinyVMI(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dom.Features == nil || dom.Features.ACPI == nil {
		t.Fatal("no ACPI: the guest could not be shut down gracefully")
	}
	if dom.Features.APIC != nil || dom.Features.SMM != nil {
		t.Errorf("features %+v without spec.domain.features", dom.Features)
	}
	// ACPI cannot be turned off: shutdown depends on it.
	vmi := tinyVMI()
	vmi.Spec.Domain.Features = &v1alpha1.Features{ACPI: v1alpha1.FeatureState{Enabled: ptr.To(false)}}
	if dom, _ := Render(vmi, Options{}); dom.Features.ACPI == nil {
		t.Error("ACPI disabled by spec.domain.features.acpi")
	}
}

func TestAPICAndSMM(t *testing.T) {
	for _, c := range []struct {
		name      string
		f         v1alpha1.Features
		apic, eoi string // "" no APIC; eoi "" none
		smm       bool
	}{
		{"none", v1alpha1.Features{}, "", "", false},
		{"apic", v1alpha1.Features{APIC: &v1alpha1.FeatureAPIC{}}, "on", "", false},
		{"apic enabled", v1alpha1.Features{APIC: &v1alpha1.FeatureAPIC{Enabled: ptr.To(true)}}, "on", "", false},
		{"apic disabled", v1alpha1.Features{APIC: &v1alpha1.FeatureAPIC{Enabled: ptr.To(false), EndOfInterrupt: true}}, "", "", false},
		{"apic eoi", v1alpha1.Features{APIC: &v1alpha1.FeatureAPIC{EndOfInterrupt: true}}, "on", "on", false},
		{"smm", v1alpha1.Features{SMM: &v1alpha1.FeatureState{}}, "", "", true},
		{"smm enabled", v1alpha1.Features{SMM: &v1alpha1.FeatureState{Enabled: ptr.To(true)}}, "", "", true},
		{"smm disabled", v1alpha1.Features{SMM: &v1alpha1.FeatureState{Enabled: ptr.To(false)}}, "", "", false},
		{"both", v1alpha1.Features{APIC: &v1alpha1.FeatureAPIC{}, SMM: &v1alpha1.FeatureState{}}, "on", "", true},
	} {
		vmi := tinyVMI()
		vmi.Spec.Domain.Features = &c.f
		dom, err := Render(vmi, Options{})
		if err != nil {
			t.Fatal(err)
		}
		f := dom.Features
		if f.ACPI == nil {
			t.Errorf("%s: no ACPI", c.name)
		}
		if (f.APIC != nil) != (c.apic != "") {
			t.Errorf("%s: APIC %+v", c.name, f.APIC)
		} else if f.APIC != nil && f.APIC.EOI != c.eoi {
			t.Errorf("%s: APIC EOI %q, want %q", c.name, f.APIC.EOI, c.eoi)
		}
		if (f.SMM != nil) != c.smm || (f.SMM != nil && f.SMM.State != "on") {
			t.Errorf("%s: SMM %+v, want on %v", c.name, f.SMM, c.smm)
		}
	}
}
