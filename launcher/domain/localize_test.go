package domain

import "testing"

func TestLocalize(t *testing.T) {
	out, err := RenderXML(tinyVMI(), Options{Type: "qemu"})
	if err != nil {
		t.Fatal(err)
	}
	dom, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := Localize(dom, "/var/lib/podvirt/images/sha256-ab/rootfs", "/var/lib/podvirt/vmis/default_tiny"); err != nil {
		t.Fatal(err)
	}
	if dom.OS.Kernel != "/var/lib/podvirt/images/sha256-ab/rootfs/boot/vmlinux" || dom.OS.Initrd != "/var/lib/podvirt/images/sha256-ab/rootfs/boot/initrd.img" {
		t.Errorf("kernel %q initrd %q", dom.OS.Kernel, dom.OS.Initrd)
	}
	if p := dom.Devices.Serials[0].Source.File.Path; p != "/var/lib/podvirt/vmis/default_tiny/serial.log" {
		t.Errorf("serial %q", p)
	}
	if p := dom.Devices.Consoles[0].Source.File.Path; p != "/var/lib/podvirt/vmis/default_tiny/serial.log" {
		t.Errorf("console %q", p)
	}
}

func TestLocalizeRefusesEscapes(t *testing.T) {
	dom, _ := Render(tinyVMI(), Options{})
	dom.OS.Kernel = "/boot/../../../../etc/shadow"
	if err := Localize(dom, "/img", "/vmi"); err != nil {
		t.Fatal(err)
	}
	if dom.OS.Kernel != "/img/etc/shadow" {
		t.Errorf("kernel %q escaped the image root", dom.OS.Kernel)
	}
	dom, _ = Render(tinyVMI(), Options{})
	dom.Devices.Serials[0].Source.File.Path = "../../etc/passwd"
	if err := Localize(dom, "/img", "/vmi"); err == nil {
		t.Error("a chardev path with directories was accepted")
	}
}
