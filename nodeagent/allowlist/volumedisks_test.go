package allowlist

import (
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"
)

// A volume's disk outside the VMI's directory (a claim's disk.img, a block
// claim's device, a hostDisk) passes only when the node agent listed it
// in VolumeDisks, exactly; a block device so listed passes without
// AllowBlockDisks. Nothing else is opened up: another file or device
// beside it is refused.
func TestVolumeDisks(t *testing.T) {
	const claimDisk = "/var/lib/kubelet/pods/u/volumes/kubernetes.io~local-volume/pv1/disk.img"
	withDisks := func(disks ...libvirtxml.DomainDisk) *libvirtxml.Domain {
		dom := parse(t, tinyXML(t, imageRoot, vmiDir))
		dom.Devices.Disks = append(dom.Devices.Disks, disks...)
		return dom
	}
	file := func(path string) libvirtxml.DomainDisk {
		return libvirtxml.DomainDisk{Device: "disk", Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: path}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vdz", Bus: "virtio"}}
	}
	block := func(dev string) libvirtxml.DomainDisk {
		d := file("")
		d.Source = &libvirtxml.DomainDiskSource{Block: &libvirtxml.DomainDiskSourceBlock{Dev: dev}}
		return d
	}
	opts := testOptions()
	opts.VolumeDisks = []string{claimDisk, "/dev/loop7"}
	for name, dom := range map[string]*libvirtxml.Domain{
		"claim file":   withDisks(file(claimDisk)),
		"claim device": withDisks(block("/dev/loop7")),
	} {
		if errs := Check(dom, opts); len(errs) != 0 {
			t.Errorf("%s refused: %v", name, errs.ToAggregate())
		}
	}
	for name, dom := range map[string]*libvirtxml.Domain{
		"another file in the claim": withDisks(file(strings.TrimSuffix(claimDisk, "disk.img") + "other.img")),
		"an unclean spelling":       withDisks(file("/var/lib/kubelet/pods/u/volumes/kubernetes.io~local-volume/pv1/./disk.img")),
		"another device":            withDisks(block("/dev/sda")),
	} {
		if errs := Check(dom, opts); len(errs) == 0 {
			t.Errorf("%s accepted", name)
		}
	}
	if errs := Check(withDisks(block("/dev/loop7")), testOptions()); len(errs) == 0 {
		t.Error("a device not in VolumeDisks accepted")
	}
}
