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

func TestBIOSSerial(t *testing.T) {
	for _, c := range []struct {
		bl   *v1alpha1.Bootloader
		want string // BIOS useserial, "" no <bios>
	}{
		{nil, ""},
		{&v1alpha1.Bootloader{}, ""},
		{&v1alpha1.Bootloader{BIOS: &v1alpha1.BIOS{}}, ""},
		{&v1alpha1.Bootloader{BIOS: &v1alpha1.BIOS{UseSerial: ptr.To(false)}}, ""},
		{&v1alpha1.Bootloader{BIOS: &v1alpha1.BIOS{UseSerial: ptr.To(true)}}, "yes"},
	} {
		vmi := tinyVMI()
		vmi.Spec.Domain.Firmware.Bootloader = c.bl
		dom, err := Render(vmi, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := dom.OS.BIOS; (got == nil) != (c.want == "") || (got != nil && got.UseSerial != c.want) {
			t.Errorf("bootloader %+v: bios %+v, want useserial %q", c.bl, got, c.want)
		}
		if dom.OS.Firmware != "" || dom.OS.FirmwareInfo != nil {
			t.Errorf("bootloader %+v: firmware %q %+v without EFI", c.bl, dom.OS.Firmware, dom.OS.FirmwareInfo)
		}
	}
}

// The firmware serial number is the guest's SMBIOS system serial.
// The domain UUID (the guest's SMBIOS UUID) is the firmware UUID when the
// user chose one, else the VMI's UID.
func TestDomainUUID(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Firmware.UUID = "0b3f5c4e-1111-4222-8333-944455556666"
	dom, err := Render(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dom.UUID != "0b3f5c4e-1111-4222-8333-944455556666" {
		t.Errorf("uuid %q, want the firmware's", dom.UUID)
	}
	vmi.Spec.Domain.Firmware = nil
	vmi.Spec.Domain.Devices.Disks = []v1alpha1.Disk{{Name: "root", Disk: &v1alpha1.DiskTarget{}}}
	if dom, err = Render(vmi, Options{}); err != nil {
		t.Fatal(err)
	}
	if dom.UUID != string(vmi.UID) {
		t.Errorf("uuid %q, want the VMI's UID", dom.UUID)
	}
	if dom, _ = Render(tinyVMI(), Options{}); dom.UUID != string(tinyVMI().UID) {
		t.Errorf("uuid %q with an empty firmware UUID, want the VMI's UID", dom.UUID)
	}
}

// Without spec.domain.machine the machine type is left to libvirt.
func TestMachineType(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Machine = nil
	dom, err := Render(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dom.OS.Type.Machine != "" || dom.OS.Type.Arch != "x86_64" || dom.OS.Type.Type != "hvm" {
		t.Errorf("os type %+v", dom.OS.Type)
	}
}

// A kernelBoot without a container boots nothing by itself: disks are
// then needed, and no kernel is rendered.
func TestKernelBootWithoutContainer(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Firmware.KernelBoot.Container = nil
	if _, err := Render(vmi, Options{}); err == nil {
		t.Fatal("rendered a kernelBoot without container and without disks")
	}
	vmi.Spec.Domain.Devices.Disks = []v1alpha1.Disk{{Name: "root", Disk: &v1alpha1.DiskTarget{}}}
	dom, err := Render(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dom.OS.Kernel != "" || dom.OS.Cmdline != "" {
		t.Errorf("os %+v", dom.OS)
	}
	vmi.Spec.Domain.Firmware.KernelBoot = nil
	if _, err := Render(vmi, Options{}); err != nil {
		t.Errorf("firmware without kernelBoot, with a disk: %v", err)
	}
}

// kernelBoot and disks together: the kernel is booted, the disks attached.
func TestKernelBootWithDisks(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Devices.Disks = []v1alpha1.Disk{{Name: "root", Disk: &v1alpha1.DiskTarget{}}}
	dom, err := Render(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dom.OS.Kernel != "/boot/vmlinux" || len(dom.Devices.Disks) != 1 {
		t.Errorf("kernel %q disks %d", dom.OS.Kernel, len(dom.Devices.Disks))
	}
}
