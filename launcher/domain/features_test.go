package domain

import "testing"

func TestACPIAlwaysOn(t *testing.T) {
	dom, err := Render(tinyVMI(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dom.Features == nil || dom.Features.ACPI == nil {
		t.Fatal("no ACPI: the guest could not be shut down gracefully")
	}
}
