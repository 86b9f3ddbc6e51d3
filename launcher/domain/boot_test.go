package domain

import (
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// TestBootDevices: what the domain boots from. KubeVirt renders no boot
// order when no device has one, and libvirt then boots the hard disks
// (<os><boot dev="hd"/>); podvirt writes that down. Per-device boot orders
// are rendered as given and never mixed with <os><boot> (libvirt refuses
// both at once). A kernel boots as today, with neither.
func TestBootDevices(t *testing.T) {
	disk := func(name string, order *uint) v1alpha1.Disk {
		return v1alpha1.Disk{Name: name, Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusVirtio}, BootOrder: order}
	}
	iface := func(order *uint) []v1alpha1.Interface {
		return []v1alpha1.Interface{{Name: "default", Masquerade: &v1alpha1.InterfaceMasquerade{}, BootOrder: order}}
	}
	cases := []struct {
		name       string
		kernel     bool
		disks      []v1alpha1.Disk
		interfaces []v1alpha1.Interface
		osBoot     []string // <os><boot dev> entries
		diskBoot   []uint   // per-disk boot order, 0 for none
		nicBoot    []uint
		err        string
	}{
		{name: "one disk, no boot order", disks: []v1alpha1.Disk{disk("root", nil)}, osBoot: []string{"hd"}, diskBoot: []uint{0}},
		{name: "two disks, no boot order: the first boots", disks: []v1alpha1.Disk{disk("root", nil), disk("data", nil)},
			osBoot: []string{"hd"}, diskBoot: []uint{0, 0}},
		{name: "no boot order, an interface without one", disks: []v1alpha1.Disk{disk("root", nil)}, interfaces: iface(nil),
			osBoot: []string{"hd"}, diskBoot: []uint{0}, nicBoot: []uint{0}},
		{name: "second disk boots", disks: []v1alpha1.Disk{disk("data", nil), disk("root", ptr.To(uint(1)))}, diskBoot: []uint{0, 1}},
		{name: "disk then network", disks: []v1alpha1.Disk{disk("root", ptr.To(uint(1)))}, interfaces: iface(ptr.To(uint(2))),
			diskBoot: []uint{1}, nicBoot: []uint{2}},
		{name: "only the interface has one", disks: []v1alpha1.Disk{disk("data", nil)}, interfaces: iface(ptr.To(uint(1))),
			diskBoot: []uint{0}, nicBoot: []uint{1}},
		{name: "network boot, no disks", interfaces: iface(ptr.To(uint(1))), nicBoot: []uint{1}},
		{name: "kernel boot", kernel: true},
		{name: "kernel boot with a disk", kernel: true, disks: []v1alpha1.Disk{disk("data", nil)}, diskBoot: []uint{0}},
		{name: "nothing to boot", interfaces: iface(nil), err: "nothing to boot"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vmi := tinyVMI()
			if !tc.kernel {
				vmi.Spec.Domain.Firmware = nil
			}
			vmi.Spec.Domain.Devices.Disks = tc.disks
			vmi.Spec.Domain.Devices.Interfaces = tc.interfaces
			dom, err := Render(vmi, Options{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var osBoot []string
			for _, b := range dom.OS.BootDevices {
				osBoot = append(osBoot, b.Dev)
			}
			if strings.Join(osBoot, ",") != strings.Join(tc.osBoot, ",") {
				t.Errorf("<os><boot> %v, want %v", osBoot, tc.osBoot)
			}
			if (dom.OS.Kernel != "") != tc.kernel {
				t.Errorf("kernel %q, want kernel boot %v", dom.OS.Kernel, tc.kernel)
			}
			for i, want := range tc.diskBoot {
				got := uint(0)
				if b := dom.Devices.Disks[i].Boot; b != nil {
					got = b.Order
				}
				if got != want {
					t.Errorf("disk %d boot order %d, want %d", i, got, want)
				}
			}
			for i, want := range tc.nicBoot {
				got := uint(0)
				if b := dom.Devices.Interfaces[i].Boot; b != nil {
					got = b.Order
				}
				if got != want {
					t.Errorf("interface %d boot order %d, want %d", i, got, want)
				}
			}
			if len(osBoot) > 0 {
				for _, d := range dom.Devices.Disks {
					if d.Boot != nil {
						t.Errorf("<os><boot> beside disk boot order %d", d.Boot.Order)
					}
				}
				for _, n := range dom.Devices.Interfaces {
					if n.Boot != nil {
						t.Errorf("<os><boot> beside interface boot order %d", n.Boot.Order)
					}
				}
			}
		})
	}
}

// The default boot entry is in the XML libvirt gets.
func TestBootDeviceInXML(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Firmware = nil
	vmi.Spec.Domain.Devices.Disks = []v1alpha1.Disk{{Name: "root", Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusSATA}}}
	out, err := RenderXML(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `<boot dev="hd"></boot>`) && !strings.Contains(out, `<boot dev="hd"/>`) {
		t.Errorf("no <boot dev=\"hd\"/> in:\n%s", out)
	}
}
