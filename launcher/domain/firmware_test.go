package domain

import (
	"testing"

	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func TestKernelBoot(t *testing.T) {
	dom, err := Render(tinyVMI(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dom.OS.Kernel != "/boot/vmlinux" || dom.OS.Initrd != "/boot/initrd.img" || dom.OS.Cmdline != "console=ttyS0" {
		t.Errorf("os %+v", dom.OS)
	}
	if dom.OS.Type.Machine != "q35" || dom.OS.Type.Arch != "x86_64" || dom.OS.Type.Type != "hvm" {
		t.Errorf("os type %+v", dom.OS.Type)
	}
}

func TestKernelBootRequired(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Firmware = nil
	if _, err := Render(vmi, Options{}); err == nil {
		t.Fatal("rendered a VMI with nothing to boot")
	}
}

// EFI asks the node's libvirt for firmware by feature: libvirt 9 refuses a
// <loader secure=...> together with firmware autoselection.
func TestEFIFirmwareFeatures(t *testing.T) {
	for _, c := range []struct {
		secureBoot *bool
		want       string
	}{{nil, "yes"}, {ptr.To(true), "yes"}, {ptr.To(false), "no"}} {
		vmi := tinyVMI()
		vmi.Spec.Domain.Firmware.Bootloader = &v1alpha1.Bootloader{EFI: &v1alpha1.EFI{SecureBoot: c.secureBoot}}
		dom, err := Render(vmi, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if dom.OS.Firmware != "efi" || dom.OS.Loader != nil || dom.OS.FirmwareInfo == nil {
			t.Fatalf("secureBoot %v: os %+v", c.secureBoot, dom.OS)
		}
		got := map[string]string{}
		for _, f := range dom.OS.FirmwareInfo.Features {
			got[f.Name] = f.Enabled
		}
		if got["secure-boot"] != c.want || got["enrolled-keys"] != c.want || len(got) != 2 {
			t.Errorf("secureBoot %v: firmware features %v, want secure-boot and enrolled-keys %q", c.secureBoot, got, c.want)
		}
	}
}
