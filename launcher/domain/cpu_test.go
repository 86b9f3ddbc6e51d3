package domain

import (
	"testing"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func TestCPUTopology(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.CPU.Cores, vmi.Spec.Domain.CPU.Sockets, vmi.Spec.Domain.CPU.Threads = 2, 3, 2
	dom, err := Render(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dom.VCPU.Value != 12 {
		t.Errorf("vcpus %d, want 12", dom.VCPU.Value)
	}
	if tp := dom.CPU.Topology; tp.Cores != 2 || tp.Sockets != 3 || tp.Threads != 2 {
		t.Errorf("topology %+v", tp)
	}
}

// Zero counts (the defaulter leaves them out) mean one; no cpu block
// means one vCPU and no <cpu> element.
func TestCPUDefaults(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.CPU = nil
	dom, err := Render(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dom.VCPU == nil || dom.VCPU.Value != 1 || dom.VCPU.Placement != "static" || dom.CPU != nil {
		t.Errorf("no cpu: vcpu %+v cpu %+v, want 1 static vCPU and no <cpu>", dom.VCPU, dom.CPU)
	}
	if n := VCPUs(vmi); n != 1 {
		t.Errorf("VCPUs without a cpu block = %d", n)
	}
	for _, c := range []struct {
		cpu                 v1alpha1.CPU
		sockets, cores, thr int
		vcpus               uint
	}{
		{v1alpha1.CPU{}, 1, 1, 1, 1},
		{v1alpha1.CPU{Cores: 4}, 1, 4, 1, 4},
		{v1alpha1.CPU{Sockets: 3}, 3, 1, 1, 3},
		{v1alpha1.CPU{Threads: 2}, 1, 1, 2, 2},
		{v1alpha1.CPU{Cores: 3, Threads: 2}, 1, 3, 2, 6},
		{v1alpha1.CPU{Sockets: 2, Cores: 5, Threads: 3}, 2, 5, 3, 30},
	} {
		vmi := tinyVMI()
		vmi.Spec.Domain.CPU = &c.cpu
		dom, err := Render(vmi, Options{})
		if err != nil {
			t.Fatal(err)
		}
		tp := dom.CPU.Topology
		if tp.Sockets != c.sockets || tp.Cores != c.cores || tp.Threads != c.thr || dom.VCPU.Value != c.vcpus || VCPUs(vmi) != c.vcpus {
			t.Errorf("cpu %+v: topology %+v vcpus %d, want %d/%d/%d and %d", c.cpu, tp, dom.VCPU.Value, c.sockets, c.cores, c.thr, c.vcpus)
		}
	}
}

func TestCPUModel(t *testing.T) {
	for _, c := range []struct {
		model, mode, named string
	}{
		{"", "", ""},
		{"host-passthrough", "host-passthrough", ""},
		{"host-model", "host-model", ""},
		{"Skylake-Server", "custom", "Skylake-Server"},
	} {
		vmi := tinyVMI()
		vmi.Spec.Domain.CPU.Model = c.model
		dom, err := Render(vmi, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if dom.CPU.Mode != c.mode {
			t.Errorf("model %q: mode %q, want %q", c.model, dom.CPU.Mode, c.mode)
		}
		if c.named == "" {
			if dom.CPU.Model != nil {
				t.Errorf("model %q: <model> %+v", c.model, dom.CPU.Model)
			}
		} else if m := dom.CPU.Model; m == nil || m.Value != c.named || m.Fallback != "forbid" {
			t.Errorf("model %q: <model> %+v, want %s with fallback forbid", c.model, m, c.named)
		}
	}
}

// Dedicated CPUs: the hint KubeVirt renders, and the metadata that tells
// the node agent to pin; the pins themselves are the node's (no cputune
// here).
func TestDedicatedCPUs(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.CPU.DedicatedCPUPlacement = true
	vmi.Spec.Domain.CPU.IsolateEmulatorThread = true
	wantXML(t, renderXML(t, vmi), []string{`<kvm><hint-dedicated state="on"></hint-dedicated></kvm>`,
		`<dedicatedCpus isolateEmulatorThread="true"></dedicatedCpus>`}, "<cputune")
	vmi.Spec.Domain.CPU.IsolateEmulatorThread = false
	wantXML(t, renderXML(t, vmi), []string{`<dedicatedCpus></dedicatedCpus>`}, "isolateEmulatorThread")
	wantXML(t, renderXML(t, tinyVMI()), nil, "hint-dedicated", "dedicatedCpus", "<cputune")
}
