package domain

import "testing"

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
