package domain

import "testing"

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
