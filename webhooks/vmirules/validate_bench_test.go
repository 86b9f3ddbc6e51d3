package vmirules

import (
	"encoding/json"
	"os"
	"testing"

	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// BenchmarkValidate measures the built-in semantic checks alone on the
// realistic VMI, defaulted and booting from its first disk as the
// validating webhook sees it (see benchVMI). A valid VMI should cost
// few allocations: the whole validating admission has a budget of 200.
func BenchmarkValidate(b *testing.B) {
	vmi := benchVMI(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = Validate(vmi)
	}
}

// benchVMI is the realistic VMI as the validating webhook sees it: after
// the defaulter, and booting from its first disk (webhooks' benchmarks
// build the same one).
func benchVMI(b *testing.B) *v1alpha1.VirtualMachineInstance {
	b.Helper()
	raw, err := os.ReadFile("../../policies/testdata/vmi-realistic.json")
	if err != nil {
		b.Fatal(err)
	}
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := json.Unmarshal(raw, vmi); err != nil {
		b.Fatal(err)
	}
	Default(vmi)
	vmi.Spec.Domain.Devices.Disks[0].BootOrder = ptr.To(uint(1))
	if errs := Validate(vmi); len(errs) > 0 {
		b.Fatalf("the benchmark VMI is invalid: %v", errs)
	}
	return vmi
}
