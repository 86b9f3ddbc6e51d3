package domain

import (
	"testing"

	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func TestHyperv(t *testing.T) {
	on, off := &v1alpha1.FeatureState{Enabled: ptr.To(true)}, &v1alpha1.FeatureState{Enabled: ptr.To(false)}
	vmi := tinyVMI()
	vmi.Spec.Domain.Features = &v1alpha1.Features{Hyperv: &v1alpha1.FeatureHyperv{
		Relaxed: on, VAPIC: on, VPIndex: on, Runtime: on, SyNIC: on, Reset: off, Frequencies: on,
		Reenlightenment: on, IPI: on,
		Spinlocks:  &v1alpha1.FeatureSpinlocks{Enabled: ptr.To(true), Retries: ptr.To(uint32(8191))},
		VendorID:   &v1alpha1.FeatureVendorID{Enabled: ptr.To(true), VendorID: "KVMKVMKVM"},
		SyNICTimer: &v1alpha1.SyNICTimer{Enabled: ptr.To(true), Direct: on},
		TLBFlush:   &v1alpha1.TLBFlush{Enabled: ptr.To(true), Extended: on},
	}}
	wantXML(t, renderXML(t, vmi), []string{`<hyperv>` +
		`<relaxed state="on"></relaxed><vapic state="on"></vapic><spinlocks state="on" retries="8191"></spinlocks>` +
		`<vpindex state="on"></vpindex><runtime state="on"></runtime><synic state="on"></synic>` +
		`<stimer state="on"><direct state="on"></direct></stimer><reset state="off"></reset>` +
		`<vendor_id state="on" value="KVMKVMKVM"></vendor_id><frequencies state="on"></frequencies>` +
		`<reenlightenment state="on"></reenlightenment><tlbflush state="on"><extended state="on"></extended></tlbflush>` +
		`<ipi state="on"></ipi></hyperv>`}, "evmcs", `name="vmx"`)
}

// The user guide's features: relaxed, vapic, spinlocks; an enabled field
// left unset (an undefaulted VMI) is on, as in KubeVirt's converter.
func TestHypervUserGuide(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Features = &v1alpha1.Features{
		APIC: &v1alpha1.FeatureAPIC{},
		Hyperv: &v1alpha1.FeatureHyperv{
			Relaxed: &v1alpha1.FeatureState{}, VAPIC: &v1alpha1.FeatureState{},
			Spinlocks: &v1alpha1.FeatureSpinlocks{Retries: ptr.To(uint32(8191))},
		},
	}
	wantXML(t, renderXML(t, vmi), []string{`<features><acpi></acpi><apic></apic><hyperv><relaxed state="on"></relaxed><vapic state="on"></vapic><spinlocks state="on" retries="8191"></spinlocks></hyperv></features>`})
}

func TestHypervDisabledAndEVMCS(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Features = &v1alpha1.Features{Hyperv: &v1alpha1.FeatureHyperv{
		Spinlocks: &v1alpha1.FeatureSpinlocks{Enabled: ptr.To(false), Retries: ptr.To(uint32(8191))},
		VendorID:  &v1alpha1.FeatureVendorID{Enabled: ptr.To(false), VendorID: "x"},
		VAPIC:     &v1alpha1.FeatureState{},
		EVMCS:     &v1alpha1.FeatureState{},
	}}
	// Disabled: off, without their values. evmcs: the guest CPU requires
	// vmx, as KubeVirt's defaulting makes it.
	wantXML(t, renderXML(t, vmi), []string{`<spinlocks state="off"></spinlocks>`, `<vendor_id state="off"></vendor_id>`,
		`<evmcs state="on"></evmcs>`, `<feature policy="require" name="vmx"></feature>`}, `retries=`, `value="x"`)
	// No hyperv: no element.
	wantXML(t, renderXML(t, tinyVMI()), nil, "<hyperv")
}
