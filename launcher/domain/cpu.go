package domain

import (
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// VCPUs is the number of virtual CPUs of a defaulted VMI.
func VCPUs(vmi *v1alpha1.VirtualMachineInstance) uint {
	c := vmi.Spec.Domain.CPU
	if c == nil {
		return 1
	}
	return uint(max(c.Cores, 1)) * uint(max(c.Sockets, 1)) * uint(max(c.Threads, 1))
}

func renderCPU(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	dom.VCPU = &libvirtxml.DomainVCPU{Placement: "static", Value: VCPUs(vmi)}
	c := vmi.Spec.Domain.CPU
	if c == nil {
		return nil
	}
	dom.CPU = &libvirtxml.DomainCPU{Topology: &libvirtxml.DomainCPUTopology{
		Sockets: int(max(c.Sockets, 1)),
		Cores:   int(max(c.Cores, 1)),
		Threads: int(max(c.Threads, 1)),
	}}
	switch c.Model {
	case "":
	case "host-passthrough", "host-model":
		dom.CPU.Mode = c.Model
	default:
		dom.CPU.Mode = "custom"
		dom.CPU.Model = &libvirtxml.DomainCPUModel{Value: c.Model, Fallback: "forbid"}
	}
	return nil
}

// DedicatedCPUs reports whether the VMI asks for dedicated CPUs, and
// whether its emulator thread gets one more.
func DedicatedCPUs(vmi *v1alpha1.VirtualMachineInstance) (dedicated, isolateEmulator bool) {
	c := vmi.Spec.Domain.CPU
	if c == nil || !c.DedicatedCPUPlacement {
		return false, false
	}
	return true, c.IsolateEmulatorThread
}

// renderDedicatedCPUs tells the guest its vCPUs are dedicated (<kvm>
// <hint-dedicated state="on"/>, as KubeVirt's converter does in
// vcpu.AdjustDomainForTopologyAndCPUSet). The pinning itself is the
// node's: only the node knows which CPUs the kubelet gave the launcher
// container, so the node agent writes <cputune> (domainspec.Localize,
// NodeFacts.CPUPins); the metadata says it must (renderMetadata).
func renderDedicatedCPUs(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	if ok, _ := DedicatedCPUs(vmi); !ok {
		return nil
	}
	dom.Features.KVM = &libvirtxml.DomainFeatureKVM{HintDedicated: &libvirtxml.DomainFeatureState{State: "on"}}
	return nil
}
