package domain

import (
	"fmt"

	"k8s.io/utils/ptr"
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

func renderDisks(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	counters := map[string]int{} // target device prefix -> next index
	scsi := false
	for _, d := range vmi.Spec.Domain.Devices.Disks {
		disk := libvirtxml.DomainDisk{
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: domainspec.DiskFile(d.Name)}},
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
			Serial: d.Serial,
			Alias:  &libvirtxml.DomainAlias{Name: "ua-" + d.Name},
		}
		var bus v1alpha1.DiskBus
		readOnly := false
		switch {
		case d.Disk != nil:
			disk.Device, bus, readOnly = "disk", d.Disk.Bus, d.Disk.ReadOnly
		case d.CDRom != nil:
			// Read-only even when the spec says readonly: false (which
			// KubeVirt accepts): a CD-ROM's medium is read-only, libvirt
			// implies <readonly/> for it, and the node's allowlist opens
			// a CD-ROM's file read-only.
			disk.Device, bus, readOnly = "cdrom", d.CDRom.Bus, true
		case d.LUN != nil:
			disk.Device, bus, readOnly = "lun", d.LUN.Bus, d.LUN.ReadOnly
		default:
			return fmt.Errorf("spec.domain.devices.disks[%s]: no disk, cdrom or lun (was the VMI defaulted?)", d.Name)
		}
		if bus == "" {
			// Admission sets every bus; an undefaulted VMI (a test's) gets
			// the same defaults: sata for disks and CD-ROMs, scsi for LUNs.
			bus = v1alpha1.DiskBusSATA
			if d.LUN != nil {
				bus = v1alpha1.DiskBusSCSI
			}
		}
		prefix := "sd"
		if bus == v1alpha1.DiskBusVirtio {
			prefix = "vd"
		}
		if bus == v1alpha1.DiskBusSCSI {
			scsi = true
		}
		disk.Target = &libvirtxml.DomainDiskTarget{Dev: prefix + driveLetters(counters[prefix]), Bus: string(bus)}
		if bus == v1alpha1.DiskBusVirtio && blockMultiQueue(vmi) {
			// As KubeVirt's converter (storage/configurator.go): one
			// queue per vCPU on virtio disks.
			disk.Driver.Queues = ptr.To(VCPUs(vmi))
		}
		counters[prefix]++
		if claimReadOnly(vmi, d.Name) {
			// The kubelet mounts a read-only claim read-only: QEMU
			// could not open its disk for writing.
			readOnly = true
		}
		if readOnly {
			disk.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
		}
		if d.BootOrder != nil {
			disk.Boot = &libvirtxml.DomainDeviceBoot{Order: *d.BootOrder}
		}
		dom.Devices.Disks = append(dom.Devices.Disks, disk)
	}
	if scsi {
		idx := uint(0)
		dom.Devices.Controllers = append(dom.Devices.Controllers, libvirtxml.DomainController{Type: "scsi", Model: "virtio-scsi", Index: &idx})
	}
	return nil
}

// driveLetters names the n-th drive as Linux does: a..z, aa..az, ...
func driveLetters(n int) string {
	s := ""
	for n++; n > 0; n = (n - 1) / 26 {
		s = string(rune('a'+(n-1)%26)) + s
	}
	return s
}

// blockMultiQueue reports whether devices.blockMultiQueue is true.
func blockMultiQueue(vmi *v1alpha1.VirtualMachineInstance) bool {
	mq := vmi.Spec.Domain.Devices.BlockMultiQueue
	return mq != nil && *mq
}

// claimReadOnly reports whether the volume named volume is a
// persistentVolumeClaim attached read-only.
func claimReadOnly(vmi *v1alpha1.VirtualMachineInstance, volume string) bool {
	for _, v := range vmi.Spec.Volumes {
		if v.Name == volume {
			return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ReadOnly
		}
	}
	return false
}
