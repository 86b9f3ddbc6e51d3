package vmirules

import (
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// DefaultSpinlockRetries is the spinlock retry count of an enabled
// spinlocks enlightenment that gives none (KubeVirt's
// SetDefaults_FeatureSpinlocks).
const DefaultSpinlockRetries = uint32(4096)

// enable makes an unset switch true: KubeVirt's SetDefaults_FeatureState
// and its siblings, applied to every switch the VMI gives.
func enable(b **bool) {
	if *b == nil {
		*b = ptr.To(true)
	}
}

func enableState(s *v1alpha1.FeatureState) {
	if s != nil {
		enable(&s.Enabled)
	}
}

// defaultFeatures does what KubeVirt's defaulting does to features: they
// always exist, with ACPI enabled (SetDefaults_VirtualMachineInstance, then
// SetDefaults_FeatureState on acpi); every feature given is enabled unless
// it says otherwise; an enabled spinlocks enlightenment retries 4096 times;
// then the Hyper-V dependencies are enabled (pkg/defaults/hyperv.go
// SetHypervFeatureDependencies).
func defaultFeatures(d *v1alpha1.DomainSpec) {
	if d.Features == nil {
		d.Features = &v1alpha1.Features{}
	}
	f := d.Features
	enable(&f.ACPI.Enabled)
	if f.APIC != nil {
		enable(&f.APIC.Enabled)
	}
	enableState(f.SMM)
	h := f.Hyperv
	if h == nil {
		return
	}
	for _, s := range []*v1alpha1.FeatureState{h.Relaxed, h.VAPIC, h.VPIndex, h.Runtime, h.SyNIC, h.Reset,
		h.Frequencies, h.Reenlightenment, h.IPI, h.EVMCS} {
		enableState(s)
	}
	if s := h.Spinlocks; s != nil {
		enable(&s.Enabled)
		if *s.Enabled && s.Retries == nil {
			s.Retries = ptr.To(DefaultSpinlockRetries)
		}
	}
	if v := h.VendorID; v != nil {
		enable(&v.Enabled)
	}
	if t := h.SyNICTimer; t != nil {
		enable(&t.Enabled)
		enableState(t.Direct)
	}
	if t := h.TLBFlush; t != nil {
		enable(&t.Enabled)
		enableState(t.Direct)
		enableState(t.Extended)
	}
	// Leaves first, as KubeVirt orders them, so that synictimer's synic
	// then gets its vpindex.
	for _, dep := range hypervDependencies(h) {
		if dep.on() && dep.needs.missing() {
			dep.needs.enable()
		}
	}
}

// hypervDep is one Hyper-V enlightenment that needs another.
type hypervDep struct {
	name  string
	on    func() bool
	needs hypervNeed
}

// hypervNeed is the enlightenment needed: its name, whether it is unset
// (or enabled unset), whether it is enabled, and how to enable it.
type hypervNeed struct {
	name    string
	missing func() bool
	enabled func() bool
	enable  func()
}

func stateNeed(name string, s **v1alpha1.FeatureState) hypervNeed {
	return hypervNeed{
		name:    name,
		missing: func() bool { return *s == nil || (*s).Enabled == nil },
		enabled: func() bool { return *s != nil && (*s).Enabled != nil && *(*s).Enabled },
		enable: func() {
			if *s == nil {
				*s = &v1alpha1.FeatureState{}
			}
			(*s).Enabled = ptr.To(true)
		},
	}
}

func enabledPtr(b *bool) bool { return b != nil && *b }

// hypervDependencies are KubeVirt's (pkg/defaults/hyperv.go
// getHypervFeatureDependencies), leaves first: evmcs needs vapic; ipi,
// tlbflush and synic need vpindex; synictimer needs synic.
func hypervDependencies(h *v1alpha1.FeatureHyperv) []hypervDep {
	vpindex := stateNeed("vpindex", &h.VPIndex)
	synic := stateNeed("synic", &h.SyNIC)
	vapic := stateNeed("vapic", &h.VAPIC)
	return []hypervDep{
		{"evmcs", func() bool { return h.EVMCS != nil && enabledPtr(h.EVMCS.Enabled) }, vapic},
		{"ipi", func() bool { return h.IPI != nil && enabledPtr(h.IPI.Enabled) }, vpindex},
		{"tlbflush", func() bool { return h.TLBFlush != nil && enabledPtr(h.TLBFlush.Enabled) }, vpindex},
		{"synictimer", func() bool { return h.SyNICTimer != nil && enabledPtr(h.SyNICTimer.Enabled) }, synic},
		{"synic", synic.enabled, vpindex},
	}
}

// defaultClock marks every timer given present, as KubeVirt's
// SetDefaults_HPETTimer and its siblings do.
func defaultClock(c *v1alpha1.Clock) {
	if c == nil || c.Timer == nil {
		return
	}
	t := c.Timer
	if t.HPET != nil {
		enable(&t.HPET.Enabled)
	}
	if t.KVM != nil {
		enable(&t.KVM.Enabled)
	}
	if t.PIT != nil {
		enable(&t.PIT.Enabled)
	}
	if t.RTC != nil {
		enable(&t.RTC.Enabled)
	}
	if t.Hyperv != nil {
		enable(&t.Hyperv.Enabled)
	}
}

// Input defaults: KubeVirt's setDefaults_Input.
const (
	DefaultInputBus  = "usb"
	DefaultInputType = "tablet"
)

func defaultInputs(inputs []v1alpha1.Input) {
	for i := range inputs {
		if inputs[i].Bus == "" {
			inputs[i].Bus = DefaultInputBus
		}
		if inputs[i].Type == "" {
			inputs[i].Type = DefaultInputType
		}
	}
}
