package domainspec

import (
	"os"
	"testing"

	"libvirt.org/go/libvirtxml"
)

// tinyDomain is the renderer's output for a kernelBoot VMI (the golden file
// of launcher/domain), plus a disk and an interface as the renderer writes
// them.
func tinyDomain(t *testing.T) *libvirtxml.Domain {
	t.Helper()
	text, err := os.ReadFile("testdata/tiny.xml")
	if err != nil {
		t.Fatal(err)
	}
	dom, err := Parse(string(text))
	if err != nil {
		t.Fatal(err)
	}
	dom.Devices.Disks = append(dom.Devices.Disks, libvirtxml.DomainDisk{
		Device: "disk",
		Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: DiskFile("data")}},
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
	}, libvirtxml.DomainDisk{
		Device: "disk",
		Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: DiskFile("root")}},
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
	})
	dom.Devices.Interfaces = append(dom.Devices.Interfaces, libvirtxml.DomainInterface{
		Source: &libvirtxml.DomainInterfaceSource{Ethernet: &libvirtxml.DomainInterfaceSourceEthernet{}},
	})
	return dom
}

func TestLocalize(t *testing.T) {
	dom := tinyDomain(t)
	facts := NodeFacts{
		ImageRoot: "/var/lib/podvirt/images/sha256-ab/rootfs", VMIDir: "/var/lib/podvirt/vmis/u1",
		Bridge: "pvb1", Tap: "pvt1", DiskFormats: map[string]string{DiskFile("root"): "qcow2"},
	}
	if err := Localize(dom, facts); err != nil {
		t.Fatal(err)
	}
	if dom.OS.Kernel != "/var/lib/podvirt/images/sha256-ab/rootfs/boot/vmlinux" || dom.OS.Initrd != "/var/lib/podvirt/images/sha256-ab/rootfs/boot/initrd.img" {
		t.Errorf("kernel %q initrd %q", dom.OS.Kernel, dom.OS.Initrd)
	}
	if p := dom.Devices.Serials[0].Source.File.Path; p != "/var/lib/podvirt/vmis/u1/serial.log" {
		t.Errorf("serial %q", p)
	}
	if p := dom.Devices.Consoles[0].Source.File.Path; p != "/var/lib/podvirt/vmis/u1/serial.log" {
		t.Errorf("console %q", p)
	}
	data, root := dom.Devices.Disks[0], dom.Devices.Disks[1]
	if data.Source.File.File != "/var/lib/podvirt/vmis/u1/disk-data.img" || data.Driver.Type != "raw" || data.BackingStore != nil {
		t.Errorf("an unnamed disk changed beyond its path: %+v %+v %+v", data.Source.File, data.Driver, data.BackingStore)
	}
	if root.Source.File.File != "/var/lib/podvirt/vmis/u1/disk-root.img" || root.Driver.Type != "qcow2" || root.BackingStore == nil || root.BackingStore.Source != nil {
		t.Errorf("a qcow2 disk must get its format and an empty backing store: %+v %+v %+v", root.Source.File, root.Driver, root.BackingStore)
	}
	nic := dom.Devices.Interfaces[0]
	if nic.Source.Bridge == nil || nic.Source.Bridge.Bridge != "pvb1" || nic.Source.Ethernet != nil || nic.Target == nil || nic.Target.Dev != "pvt1" {
		t.Errorf("interface %+v %+v", nic.Source, nic.Target)
	}
}

// Without a bridge the interface stays as rendered: the allowlist refuses
// it, rather than Localize inventing a connection.
func TestLocalizeWithoutBridgeKeepsInterface(t *testing.T) {
	dom := tinyDomain(t)
	if err := Localize(dom, NodeFacts{ImageRoot: "/img", VMIDir: "/vmi"}); err != nil {
		t.Fatal(err)
	}
	if nic := dom.Devices.Interfaces[0]; nic.Source.Ethernet == nil || nic.Source.Bridge != nil || nic.Target != nil {
		t.Errorf("interface rewritten without a bridge: %+v %+v", nic.Source, nic.Target)
	}
}

func TestLocalizeRefusesEscapes(t *testing.T) {
	dom := tinyDomain(t)
	dom.OS.Kernel = "/boot/../../../../etc/shadow"
	if err := Localize(dom, NodeFacts{ImageRoot: "/img", VMIDir: "/vmi"}); err != nil {
		t.Fatal(err)
	}
	if dom.OS.Kernel != "/img/etc/shadow" {
		t.Errorf("kernel %q escaped the image root", dom.OS.Kernel)
	}
	for name, mutate := range map[string]func(*libvirtxml.Domain){
		"serial with directories": func(d *libvirtxml.Domain) { d.Devices.Serials[0].Source.File.Path = "../../etc/passwd" },
		"console dot-dot":         func(d *libvirtxml.Domain) { d.Devices.Consoles[0].Source.File.Path = ".." },
		"absolute disk":           func(d *libvirtxml.Domain) { d.Devices.Disks[0].Source.File.File = "/etc/shadow" },
		"relative kernel":         func(d *libvirtxml.Domain) { d.OS.Kernel = "boot/vmlinux" },
	} {
		dom := tinyDomain(t)
		mutate(dom)
		if err := Localize(dom, NodeFacts{ImageRoot: "/img", VMIDir: "/vmi"}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
