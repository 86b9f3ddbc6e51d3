package domain

import (
	"testing"

	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func TestDisks(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Devices.Disks = []v1alpha1.Disk{
		{Name: "root", Disk: &v1alpha1.DiskTarget{}, BootOrder: ptr.To(uint(1)), Serial: "S1"},
		{Name: "data", Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusVirtio, ReadOnly: true}},
		{Name: "iso", CDRom: &v1alpha1.CDRomTarget{Bus: v1alpha1.DiskBusSATA}, BootOrder: ptr.To(uint(2))},
		{Name: "rw-iso", CDRom: &v1alpha1.CDRomTarget{Bus: v1alpha1.DiskBusSATA, ReadOnly: ptr.To(false)}},
		{Name: "ro-iso", CDRom: &v1alpha1.CDRomTarget{ReadOnly: ptr.To(true)}},
		{Name: "lun", LUN: &v1alpha1.LunTarget{Bus: v1alpha1.DiskBusSCSI}},
		{Name: "ro-lun", LUN: &v1alpha1.LunTarget{Bus: v1alpha1.DiskBusSCSI, ReadOnly: true}},
	}
	dom, err := Render(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, device, dev, bus string
		readOnly               bool
		boot                   uint
	}{
		// No bus: admission's default, sata.
		{"root", "disk", "sda", "sata", false, 1},
		{"data", "disk", "vda", "virtio", true, 0},
		{"iso", "cdrom", "sdb", "sata", true, 2},
		// A CD-ROM is read-only whatever the spec says.
		{"rw-iso", "cdrom", "sdc", "sata", true, 0},
		{"ro-iso", "cdrom", "sdd", "sata", true, 0},
		{"lun", "lun", "sde", "scsi", false, 0},
		{"ro-lun", "lun", "sdf", "scsi", true, 0},
	}
	if len(dom.Devices.Disks) != len(want) {
		t.Fatalf("%d disks, want %d", len(dom.Devices.Disks), len(want))
	}
	for i, w := range want {
		d := dom.Devices.Disks[i]
		if d.Device != w.device || d.Target == nil || d.Target.Dev != w.dev || d.Target.Bus != w.bus {
			t.Errorf("disk %s: device %q target %+v, want %s %s on %s", w.name, d.Device, d.Target, w.device, w.dev, w.bus)
		}
		if (d.ReadOnly != nil) != w.readOnly {
			t.Errorf("disk %s: read-only %v, want %v", w.name, d.ReadOnly != nil, w.readOnly)
		}
		if got := uint(0); d.Boot != nil {
			got = d.Boot.Order
			if got != w.boot || w.boot == 0 {
				t.Errorf("disk %s: boot order %d, want %d", w.name, got, w.boot)
			}
		} else if w.boot != 0 {
			t.Errorf("disk %s: no boot order, want %d", w.name, w.boot)
		}
		if d.Source == nil || d.Source.File == nil || d.Source.File.File != "disk-"+w.name+".img" {
			t.Errorf("disk %s: source %+v, want the file disk-%s.img", w.name, d.Source, w.name)
		}
		if d.Driver == nil || d.Driver.Name != "qemu" || d.Driver.Type != "raw" {
			t.Errorf("disk %s: driver %+v, want qemu raw (Localize sets the format found)", w.name, d.Driver)
		}
		if d.Alias == nil || d.Alias.Name != "ua-"+w.name {
			t.Errorf("disk %s: alias %+v", w.name, d.Alias)
		}
	}
	if s := dom.Devices.Disks[0].Serial; s != "S1" {
		t.Errorf("serial %q, want S1", s)
	}
	if c := dom.Devices.Controllers; len(c) != 1 || c[0].Type != "scsi" || c[0].Model != "virtio-scsi" || c[0].Index == nil || *c[0].Index != 0 {
		t.Errorf("controllers %+v, want one virtio-scsi controller 0 for the SCSI disks", c)
	}
}

// Booting from a disk needs no kernelBoot container.
func TestDiskBootWithoutKernel(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Firmware = nil
	vmi.Spec.Domain.Devices.Disks = []v1alpha1.Disk{{Name: "root", Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusSATA}}}
	dom, err := Render(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dom.OS.Kernel != "" || dom.OS.Initrd != "" || dom.OS.Cmdline != "" {
		t.Errorf("os %+v: a kernel without kernelBoot", dom.OS)
	}
	if len(dom.Devices.Disks) != 1 || dom.Devices.Disks[0].Target.Dev != "sda" || len(dom.Devices.Controllers) != 0 {
		t.Errorf("disks %+v controllers %+v", dom.Devices.Disks, dom.Devices.Controllers)
	}
}

func TestDiskWithoutTargetIsRefused(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Devices.Disks = []v1alpha1.Disk{{Name: "root", Disk: &v1alpha1.DiskTarget{}}, {Name: "bare"}}
	if dom, err := Render(vmi, Options{}); err == nil {
		t.Fatalf("rendered a disk with no disk, cdrom or lun: %+v", dom.Devices.Disks)
	}
}

// Drives are named as Linux names them: a..z, aa..az, ba.., zz, aaa.
func TestDriveLetters(t *testing.T) {
	for n, want := range map[int]string{0: "a", 1: "b", 24: "y", 25: "z", 26: "aa", 27: "ab", 51: "az", 52: "ba", 701: "zz", 702: "aaa", 18277: "zzz", 18278: "aaaa"} {
		if got := driveLetters(n); got != want {
			t.Errorf("driveLetters(%d) = %q, want %q", n, got, want)
		}
	}
}

// The 27th virtio disk is vdaa; every target is unique.
func TestManyDisks(t *testing.T) {
	vmi := tinyVMI()
	for i := 0; i < 30; i++ {
		vmi.Spec.Domain.Devices.Disks = append(vmi.Spec.Domain.Devices.Disks, v1alpha1.Disk{Name: string(rune('A' + i)), Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusVirtio}})
	}
	dom, err := Render(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range dom.Devices.Disks {
		if seen[d.Target.Dev] {
			t.Errorf("target %s used twice", d.Target.Dev)
		}
		seen[d.Target.Dev] = true
	}
	if got := dom.Devices.Disks[25].Target.Dev + " " + dom.Devices.Disks[26].Target.Dev + " " + dom.Devices.Disks[29].Target.Dev; got != "vdz vdaa vdad" {
		t.Errorf("targets of disks 26, 27 and 30: %s", got)
	}
}

// blockMultiQueue: one queue per vCPU on virtio disks only, as KubeVirt.
func TestBlockMultiQueue(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.CPU = &v1alpha1.CPU{Cores: 2, Sockets: 2, Threads: 1}
	vmi.Spec.Domain.Devices.Disks = []v1alpha1.Disk{
		{Name: "root", Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusVirtio}},
		{Name: "data", Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusSATA}},
	}
	vmi.Spec.Domain.Devices.BlockMultiQueue = ptr.To(true)
	dom, err := Render(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if q := dom.Devices.Disks[0].Driver.Queues; q == nil || *q != 4 {
		t.Errorf("virtio disk queues %v, want 4 (the vCPUs)", q)
	}
	if q := dom.Devices.Disks[1].Driver.Queues; q != nil {
		t.Errorf("sata disk queues %v, want none", *q)
	}
	vmi.Spec.Domain.Devices.BlockMultiQueue = ptr.To(false)
	if dom, err = Render(vmi, Options{}); err != nil || dom.Devices.Disks[0].Driver.Queues != nil {
		t.Errorf("blockMultiQueue false: queues %v, %v", dom.Devices.Disks[0].Driver.Queues, err)
	}
}

// A read-only claim's disk is read-only: the kubelet mounts the claim
// read-only, and QEMU could not open the disk for writing.
func TestReadOnlyClaimDisk(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Devices.Disks = []v1alpha1.Disk{
		{Name: "ro", Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusVirtio}},
		{Name: "rw", Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusVirtio}},
	}
	vmi.Spec.Volumes = []v1alpha1.Volume{
		{Name: "ro", PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: "a", ReadOnly: true}},
		{Name: "rw", PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: "b"}},
	}
	dom, err := Render(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dom.Devices.Disks[0].ReadOnly == nil || dom.Devices.Disks[1].ReadOnly != nil {
		t.Errorf("readonly: ro=%v rw=%v, want only the read-only claim's", dom.Devices.Disks[0].ReadOnly, dom.Devices.Disks[1].ReadOnly)
	}
}
