package domain

import (
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// renderHyperv renders the Hyper-V enlightenments as KubeVirt's converter
// does (compute/hypervisor_features.go): each one given is on unless
// disabled, and off when disabled. An enabled evmcs also requires vmx of
// the guest CPU, which KubeVirt's defaulting adds to cpu.features
// (pkg/defaults/hyperv.go setEVMCSDependency); podvirt has no
// cpu.features, so the renderer adds it.
func renderHyperv(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	f := vmi.Spec.Domain.Features
	if f == nil || f.Hyperv == nil {
		return nil
	}
	h := f.Hyperv
	hv := &libvirtxml.DomainFeatureHyperV{
		Relaxed:         featureState(h.Relaxed),
		VAPIC:           featureState(h.VAPIC),
		VPIndex:         featureState(h.VPIndex),
		Runtime:         featureState(h.Runtime),
		Synic:           featureState(h.SyNIC),
		Reset:           featureState(h.Reset),
		Frequencies:     featureState(h.Frequencies),
		ReEnlightenment: featureState(h.Reenlightenment),
		IPI:             featureState(h.IPI),
		EVMCS:           featureState(h.EVMCS),
	}
	if s := h.Spinlocks; s != nil {
		hv.Spinlocks = &libvirtxml.DomainFeatureHyperVSpinlocks{DomainFeatureState: libvirtxml.DomainFeatureState{State: onOff(s.Enabled)}}
		if s.Retries != nil && onOff(s.Enabled) == "on" {
			hv.Spinlocks.Retries = uint(*s.Retries)
		}
	}
	if v := h.VendorID; v != nil {
		hv.VendorId = &libvirtxml.DomainFeatureHyperVVendorId{DomainFeatureState: libvirtxml.DomainFeatureState{State: onOff(v.Enabled)}}
		if onOff(v.Enabled) == "on" {
			hv.VendorId.Value = v.VendorID
		}
	}
	if t := h.SyNICTimer; t != nil {
		hv.STimer = &libvirtxml.DomainFeatureHyperVSTimer{DomainFeatureState: libvirtxml.DomainFeatureState{State: onOff(t.Enabled)}, Direct: featureState(t.Direct)}
	}
	if t := h.TLBFlush; t != nil {
		hv.TLBFlush = &libvirtxml.DomainFeatureHyperVTLBFlush{
			DomainFeatureState: libvirtxml.DomainFeatureState{State: onOff(t.Enabled)},
			Direct:             featureState(t.Direct),
			Extended:           featureState(t.Extended),
		}
	}
	dom.Features.HyperV = hv
	if h.EVMCS != nil && onOff(h.EVMCS.Enabled) == "on" {
		if dom.CPU == nil {
			dom.CPU = &libvirtxml.DomainCPU{}
		}
		dom.CPU.Features = append(dom.CPU.Features, libvirtxml.DomainCPUFeature{Policy: "require", Name: "vmx"})
	}
	return nil
}

func featureState(s *v1alpha1.FeatureState) *libvirtxml.DomainFeatureState {
	if s == nil {
		return nil
	}
	return &libvirtxml.DomainFeatureState{State: onOff(s.Enabled)}
}
