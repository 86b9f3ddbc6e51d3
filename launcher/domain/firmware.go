package domain

import (
	"fmt"

	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// Arch is the only guest architecture rendered for now.
const Arch = "x86_64"

func kernelBootContainer(vmi *v1alpha1.VirtualMachineInstance) *v1alpha1.KernelBootContainer {
	fw := vmi.Spec.Domain.Firmware
	if fw == nil || fw.KernelBoot == nil {
		return nil
	}
	return fw.KernelBoot.Container
}

func renderFirmware(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	machine := ""
	if m := vmi.Spec.Domain.Machine; m != nil {
		machine = m.Type
	}
	dom.OS = &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Arch: Arch, Machine: machine, Type: "hvm"}}
	fw := vmi.Spec.Domain.Firmware
	if fw != nil {
		// firmware.serial is an SMBIOS entry: sysinfo.go.
		renderBootloader(fw.Bootloader, dom.OS)
	}
	c := kernelBootContainer(vmi)
	if c == nil {
		if len(vmi.Spec.Domain.Devices.Disks) == 0 && !anyBootOrder(vmi) {
			return fmt.Errorf("nothing to boot: no spec.domain.firmware.kernelBoot.container, no disks and no interface with a bootOrder")
		}
		// With no boot order on any device KubeVirt renders none, and
		// libvirt then boots from the hard disks (<boot dev="hd"/>, the
		// first disk first). Saying so keeps the signed domain what
		// libvirt runs. libvirt refuses <os><boot> beside per-device
		// boot orders, so it is only ever one or the other.
		if !anyBootOrder(vmi) {
			dom.OS.BootDevices = []libvirtxml.DomainBootDevice{{Dev: "hd"}}
		}
		return nil
	}
	// Paths inside the image; the node agent resolves them (Localize).
	dom.OS.Kernel = c.KernelPath
	dom.OS.Initrd = c.InitrdPath
	dom.OS.Cmdline = vmi.Spec.Domain.Firmware.KernelBoot.KernelArgs
	return nil
}

func renderBootloader(bl *v1alpha1.Bootloader, os *libvirtxml.DomainOS) {
	switch {
	case bl == nil:
	case bl.EFI != nil:
		// The node's libvirt picks the firmware (OVMF) from its firmware
		// descriptors by the features asked for; it then creates and, on
		// undefine, removes the variable store.
		os.Firmware = "efi"
		secure := "no"
		if bl.EFI.SecureBoot == nil || *bl.EFI.SecureBoot {
			secure = "yes"
		}
		os.FirmwareInfo = &libvirtxml.DomainOSFirmwareInfo{Features: []libvirtxml.DomainOSFirmwareFeature{
			{Name: "secure-boot", Enabled: secure},
			// Secure Boot needs keys to check against; KubeVirt enrolls
			// Microsoft's, the ones OVMF ships.
			{Name: "enrolled-keys", Enabled: secure},
		}}
	case bl.BIOS != nil && bl.BIOS.UseSerial != nil && *bl.BIOS.UseSerial:
		os.BIOS = &libvirtxml.DomainBIOS{UseSerial: "yes"}
	}
}

// anyBootOrder reports whether a disk or an interface has a boot order.
func anyBootOrder(vmi *v1alpha1.VirtualMachineInstance) bool {
	devs := &vmi.Spec.Domain.Devices
	for i := range devs.Disks {
		if devs.Disks[i].BootOrder != nil {
			return true
		}
	}
	for i := range devs.Interfaces {
		if devs.Interfaces[i].BootOrder != nil {
			return true
		}
	}
	return false
}
