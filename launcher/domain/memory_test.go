package domain

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func TestMemoryInKiB(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Memory.Guest = ptr.To(resource.MustParse("1Gi"))
	dom, err := Render(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dom.Memory.Value != 1<<20 || dom.Memory.Unit != "KiB" {
		t.Errorf("memory %d %s, want 1048576 KiB", dom.Memory.Value, dom.Memory.Unit)
	}
}

func TestMemoryRequired(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Memory = nil
	if _, err := Render(vmi, Options{}); err == nil {
		t.Fatal("rendered without guest memory")
	}
}
