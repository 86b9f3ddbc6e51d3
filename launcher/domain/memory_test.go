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

// Guest memory is rendered in whole KiB, rounded down; less than 1KiB is
// refused, exactly 1KiB is not.
func TestMemoryBoundaries(t *testing.T) {
	for q, want := range map[string]uint{"1Ki": 1, "1025": 1, "2047": 1, "2Ki": 2, "128Mi": 131072, "1G": 976562} {
		vmi := tinyVMI()
		vmi.Spec.Domain.Memory.Guest = ptr.To(resource.MustParse(q))
		dom, err := Render(vmi, Options{})
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		if dom.Memory.Value != want || dom.Memory.Unit != "KiB" {
			t.Errorf("%s: memory %d %s, want %d KiB", q, dom.Memory.Value, dom.Memory.Unit, want)
		}
	}
	for _, q := range []string{"0", "1", "1023", "-1Mi"} {
		vmi := tinyVMI()
		vmi.Spec.Domain.Memory.Guest = ptr.To(resource.MustParse(q))
		if dom, err := Render(vmi, Options{}); err == nil {
			t.Errorf("%s: rendered %+v", q, dom.Memory)
		}
	}
	vmi := tinyVMI()
	vmi.Spec.Domain.Memory.Guest = nil
	if _, err := Render(vmi, Options{}); err == nil {
		t.Error("rendered with a memory block but no guest memory")
	}
}
