package domain

import (
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// renderSysInfo writes the SMBIOS tables the VMI gives, as KubeVirt's
// converter does (compute/sysinfo.go): the system serial
// (firmware.serial) and the chassis (spec.domain.chassis), and has the
// guest's firmware read them (<smbios mode="sysinfo"/>). KubeVirt also
// writes the system UUID, which libvirt takes from the domain's UUID
// anyway, and empty chassis entries, which libvirt ignores; podvirt
// writes neither. Nothing given: no sysinfo.
func renderSysInfo(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	smbios := &libvirtxml.DomainSysInfoSMBIOS{}
	if fw := vmi.Spec.Domain.Firmware; fw != nil && fw.Serial != "" {
		smbios.System = &libvirtxml.DomainSysInfoSystem{Entry: []libvirtxml.DomainSysInfoEntry{{Name: "serial", Value: fw.Serial}}}
	}
	if c := vmi.Spec.Domain.Chassis; c != nil {
		var entries []libvirtxml.DomainSysInfoEntry
		for _, e := range []libvirtxml.DomainSysInfoEntry{
			{Name: "manufacturer", Value: c.Manufacturer},
			{Name: "version", Value: c.Version},
			{Name: "serial", Value: c.Serial},
			{Name: "asset", Value: c.Asset},
			{Name: "sku", Value: c.Sku},
		} {
			if e.Value != "" {
				entries = append(entries, e)
			}
		}
		if len(entries) > 0 {
			smbios.Chassis = &libvirtxml.DomainSysInfoChassis{Entry: entries}
		}
	}
	if smbios.System == nil && smbios.Chassis == nil {
		return nil
	}
	dom.SysInfo = append(dom.SysInfo, libvirtxml.DomainSysInfo{SMBIOS: smbios})
	dom.OS.SMBios = &libvirtxml.DomainSMBios{Mode: "sysinfo"}
	return nil
}
