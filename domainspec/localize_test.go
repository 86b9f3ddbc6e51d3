package domainspec

import (
	"os"
	"strings"
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
		Tap: "pvt1", DiskFormats: map[string]string{DiskFile("root"): "qcow2"},
	}
	if err := Localize(dom, facts); err != nil {
		t.Fatal(err)
	}
	if dom.OS.Kernel != "/var/lib/podvirt/images/sha256-ab/rootfs/boot/vmlinux" || dom.OS.Initrd != "/var/lib/podvirt/images/sha256-ab/rootfs/boot/initrd.img" {
		t.Errorf("kernel %q initrd %q", dom.OS.Kernel, dom.OS.Initrd)
	}
	if p := dom.Devices.Serials[0].Source.UNIX.Path; p != "/var/lib/podvirt/vmis/u1/serial.sock" {
		t.Errorf("serial %q", p)
	}
	if p := dom.Devices.Consoles[0].Log.File; p != "/var/lib/podvirt/vmis/u1/serial.log" {
		t.Errorf("console log %q", p)
	}
	data, root := dom.Devices.Disks[0], dom.Devices.Disks[1]
	if data.Source.File.File != "/var/lib/podvirt/vmis/u1/disk-data.img" || data.Driver.Type != "raw" || data.BackingStore != nil {
		t.Errorf("an unnamed disk changed beyond its path: %+v %+v %+v", data.Source.File, data.Driver, data.BackingStore)
	}
	if root.Source.File.File != "/var/lib/podvirt/vmis/u1/disk-root.img" || root.Driver.Type != "qcow2" || root.BackingStore == nil || root.BackingStore.Source != nil {
		t.Errorf("a qcow2 disk must get its format and an empty backing store: %+v %+v %+v", root.Source.File, root.Driver, root.BackingStore)
	}
	nic := dom.Devices.Interfaces[0]
	if nic.Source.Ethernet == nil || nic.Source.Bridge != nil || nic.Target == nil || nic.Target.Dev != "pvt1" || nic.Target.Managed != "no" {
		t.Errorf("interface %+v %+v", nic.Source, nic.Target)
	}
}

// Without a tap the interface stays as rendered (a tap libvirt would make
// and nothing connects), rather than Localize inventing one.
func TestLocalizeWithoutBridgeKeepsInterface(t *testing.T) {
	dom := tinyDomain(t)
	if err := Localize(dom, NodeFacts{ImageRoot: "/img", VMIDir: "/vmi"}); err != nil {
		t.Fatal(err)
	}
	if nic := dom.Devices.Interfaces[0]; nic.Source.Ethernet == nil || nic.Source.Bridge != nil || nic.Target != nil {
		t.Errorf("interface rewritten without a tap: %+v %+v", nic.Source, nic.Target)
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
		"serial with directories": func(d *libvirtxml.Domain) { d.Devices.Serials[0].Source.UNIX.Path = "../../etc/passwd" },
		"console dot-dot":         func(d *libvirtxml.Domain) { d.Devices.Consoles[0].Log.File = ".." },
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

// The VNC socket is a VMI file like the others; a socket-less VNC (none
// is rendered) and other graphics are left alone.
func TestLocalizeVNCSocket(t *testing.T) {
	dom := tinyDomain(t)
	dom.Devices.Graphics = []libvirtxml.DomainGraphic{
		{VNC: &libvirtxml.DomainGraphicVNC{Socket: "vnc.sock"}},
		{VNC: &libvirtxml.DomainGraphicVNC{}},
		{Spice: &libvirtxml.DomainGraphicSpice{}},
	}
	if err := Localize(dom, NodeFacts{ImageRoot: "/img", VMIDir: "/vmi"}); err != nil {
		t.Fatal(err)
	}
	if s := dom.Devices.Graphics[0].VNC.Socket; s != "/vmi/vnc.sock" {
		t.Errorf("vnc socket %q, want /vmi/vnc.sock", s)
	}
	if s := dom.Devices.Graphics[1].VNC.Socket; s != "" {
		t.Errorf("an empty vnc socket became %q", s)
	}
	for _, sock := range []string{"../vnc.sock", "/run/vnc.sock", "a/vnc.sock", ".", ".."} {
		for _, facts := range []NodeFacts{{ImageRoot: "/img", VMIDir: "/vmi"}, {ImageRoot: "/img", VMIDir: "/vmi", SocketDir: "/sock"}} {
			dom := tinyDomain(t)
			dom.Devices.Graphics = []libvirtxml.DomainGraphic{{VNC: &libvirtxml.DomainGraphicVNC{Socket: sock}}}
			if err := Localize(dom, facts); err == nil {
				t.Errorf("vnc socket %q accepted: %q", sock, dom.Devices.Graphics[0].VNC.Socket)
			}
		}
	}
}

// With a SocketDir, the VNC socket goes there (a short path: unix socket
// paths are limited) and every other file stays in VMIDir.
func TestLocalizeSocketDir(t *testing.T) {
	dom := tinyDomain(t)
	dom.Devices.Graphics = []libvirtxml.DomainGraphic{{VNC: &libvirtxml.DomainGraphicVNC{Socket: "vnc.sock"}}}
	dom.Devices.Serials = []libvirtxml.DomainSerial{{Source: &libvirtxml.DomainChardevSource{File: &libvirtxml.DomainChardevSourceFile{Path: SerialLogFile}}}}
	if err := Localize(dom, NodeFacts{ImageRoot: "/img", VMIDir: "/pod/vmi", SocketDir: "/state/vmis/u"}); err != nil {
		t.Fatal(err)
	}
	if s := dom.Devices.Graphics[0].VNC.Socket; s != "/state/vmis/u/vnc.sock" {
		t.Errorf("vnc socket %q, want it in the socket directory", s)
	}
	if p := dom.Devices.Serials[0].Source.File.Path; p != "/pod/vmi/serial.log" {
		t.Errorf("serial log %q, want it in the VMI directory", p)
	}
	for _, d := range dom.Devices.Disks {
		if d.Source != nil && d.Source.File != nil && !strings.HasPrefix(d.Source.File.File, "/pod/vmi/") {
			t.Errorf("disk %q is not in the VMI directory", d.Source.File.File)
		}
	}
}

// Every file-backed device refuses every kind of path that is not a bare
// file name, and accepts bare names that merely look odd.
func TestLocalizeBareFileNames(t *testing.T) {
	set := map[string]func(*libvirtxml.Domain, string){
		"disk":        func(d *libvirtxml.Domain, p string) { d.Devices.Disks[0].Source.File.File = p },
		"serial":      func(d *libvirtxml.Domain, p string) { d.Devices.Serials[0].Source.UNIX.Path = p },
		"console":     func(d *libvirtxml.Domain, p string) { d.Devices.Consoles[0].Source.UNIX.Path = p },
		"serial log":  func(d *libvirtxml.Domain, p string) { d.Devices.Serials[0].Log.File = p },
		"console log": func(d *libvirtxml.Domain, p string) { d.Devices.Consoles[0].Log.File = p },
	}
	for dev, f := range set {
		for _, bad := range []string{".", "..", "/abs", "a/b", "../x", "./x", "x/"} {
			dom := tinyDomain(t)
			f(dom, bad)
			if err := Localize(dom, NodeFacts{ImageRoot: "/img", VMIDir: "/vmi"}); err == nil || !strings.Contains(err.Error(), "bare file name") {
				t.Errorf("%s %q: %v, want a bare file name error", dev, bad, err)
			}
		}
		for _, ok := range []string{"...", "..x", ".hidden", "x..", "-"} {
			dom := tinyDomain(t)
			f(dom, ok)
			if err := Localize(dom, NodeFacts{ImageRoot: "/img", VMIDir: "/vmi"}); err != nil {
				t.Errorf("%s %q: %v", dev, ok, err)
			}
		}
	}
}

// Devices without a file source (a CD-ROM drive without media, a block
// disk, a pty serial) are neither rewritten nor refused.
func TestLocalizeSkipsDevicesWithoutFiles(t *testing.T) {
	dom := tinyDomain(t)
	dom.Devices.Disks = append(dom.Devices.Disks,
		libvirtxml.DomainDisk{Device: "cdrom", Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"}},
		libvirtxml.DomainDisk{Device: "disk", Source: &libvirtxml.DomainDiskSource{Block: &libvirtxml.DomainDiskSourceBlock{Dev: "/dev/sda"}}, Driver: &libvirtxml.DomainDiskDriver{Type: "raw"}},
		// Named in DiskFormats, but without a driver to carry the format.
		libvirtxml.DomainDisk{Device: "disk", Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: DiskFile("nodriver")}}},
	)
	dom.Devices.Serials = append(dom.Devices.Serials, libvirtxml.DomainSerial{Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}}}, libvirtxml.DomainSerial{})
	dom.Devices.Consoles = append(dom.Devices.Consoles, libvirtxml.DomainConsole{Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}}}, libvirtxml.DomainConsole{})
	facts := NodeFacts{ImageRoot: "/img", VMIDir: "/vmi", DiskFormats: map[string]string{"": "qcow2", DiskFile("nodriver"): "qcow2"}}
	if err := Localize(dom, facts); err != nil {
		t.Fatal(err)
	}
	disks := dom.Devices.Disks
	if cd := disks[2]; cd.Source != nil || cd.Driver.Type != "raw" || cd.BackingStore != nil {
		t.Errorf("empty cdrom changed: %+v %+v %+v", cd.Source, cd.Driver, cd.BackingStore)
	}
	if blk := disks[3]; blk.Source.Block.Dev != "/dev/sda" || blk.Source.File != nil || blk.Driver.Type != "raw" || blk.BackingStore != nil {
		t.Errorf("block disk changed: %+v %+v", blk.Source, blk.Driver)
	}
	if nd := disks[4]; nd.Source.File.File != "/vmi/disk-nodriver.img" || nd.Driver != nil {
		t.Errorf("driverless disk: %+v %+v", nd.Source.File, nd.Driver)
	}
}

// The format a node found wins over the rendered one; only raw goes
// without the empty backing store.
func TestLocalizeDiskFormats(t *testing.T) {
	for _, format := range []string{"raw", "qcow2", "vmdk", ""} {
		dom := tinyDomain(t)
		dom.Devices.Disks[1].Driver.Type = "qcow2" // rendered otherwise than found
		if err := Localize(dom, NodeFacts{VMIDir: "/vmi", DiskFormats: map[string]string{DiskFile("root"): format}}); err != nil {
			t.Fatal(err)
		}
		root := dom.Devices.Disks[1]
		if root.Driver.Type != format || (root.BackingStore == nil) != (format == "raw") {
			t.Errorf("found %q: driver type %q backing store %+v", format, root.Driver.Type, root.BackingStore)
		}
		if data := dom.Devices.Disks[0]; data.Driver.Type != "raw" || data.BackingStore != nil {
			t.Errorf("found %q for root: data disk %+v %+v", format, data.Driver, data.BackingStore)
		}
	}
}

// An overlay gets its backing chain, exactly one level over the node's
// image, not relabelled, ended by an empty backing store; a qcow2 disk
// without a backing keeps the empty one, and a raw disk none.
func TestLocalizeBackingChain(t *testing.T) {
	dom := tinyDomain(t)
	image := "/var/lib/podvirt/images/sha256-ab/rootfs/disk/disk.img"
	facts := NodeFacts{VMIDir: "/vmi",
		DiskFormats:  map[string]string{DiskFile("root"): "qcow2", DiskFile("data"): "qcow2"},
		DiskBackings: map[string]DiskBacking{DiskFile("root"): {File: image, Format: "raw"}, DiskFile("data"): {File: "/ignored", Format: "raw"}}}
	facts.DiskFormats[DiskFile("data")] = "raw"
	if err := Localize(dom, facts); err != nil {
		t.Fatal(err)
	}
	out, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `<source file="/vmi/disk-root.img"></source>
      <backingStore type="file">
        <format type="raw"></format>
        <source file="` + image + `">
          <seclabel model="dac" relabel="no"></seclabel>
        </source>
        <backingStore></backingStore>
      </backingStore>`
	if !strings.Contains(out, want) {
		t.Errorf("the overlay's chain is not\n%s\nin\n%s", want, out)
	}
	if data := dom.Devices.Disks[0]; data.Driver.Type != "raw" || data.BackingStore != nil {
		t.Errorf("a raw disk got a backing store: %+v", data.BackingStore)
	}
}

// Every interface is given the tap.
func TestLocalizeEveryInterface(t *testing.T) {
	dom := tinyDomain(t)
	dom.Devices.Interfaces = append(dom.Devices.Interfaces, dom.Devices.Interfaces[0])
	if err := Localize(dom, NodeFacts{VMIDir: "/vmi", Tap: "tap"}); err != nil {
		t.Fatal(err)
	}
	for i, nic := range dom.Devices.Interfaces {
		if nic.Source.Ethernet == nil || nic.Target.Dev != "tap" || nic.Target.Managed != "no" {
			t.Errorf("interface %d: %+v %+v", i, nic.Source, nic.Target)
		}
	}
}

// A domain without <os> or without devices, and an <os> without initrd.
func TestLocalizeSparseDomains(t *testing.T) {
	if err := Localize(&libvirtxml.Domain{Name: "ns_a"}, NodeFacts{ImageRoot: "/img", VMIDir: "/vmi"}); err != nil {
		t.Errorf("empty domain: %v", err)
	}
	dom := &libvirtxml.Domain{Name: "ns_a", OS: &libvirtxml.DomainOS{Kernel: "/k"}}
	if err := Localize(dom, NodeFacts{ImageRoot: "/img"}); err != nil || dom.OS.Kernel != "/img/k" || dom.OS.Initrd != "" {
		t.Errorf("kernel only: %v, kernel %q initrd %q", err, dom.OS.Kernel, dom.OS.Initrd)
	}
	dom = &libvirtxml.Domain{Name: "ns_a", OS: &libvirtxml.DomainOS{Initrd: "/i"}, Devices: &libvirtxml.DomainDeviceList{}}
	if err := Localize(dom, NodeFacts{ImageRoot: "/img"}); err != nil || dom.OS.Kernel != "" || dom.OS.Initrd != "/img/i" {
		t.Errorf("initrd only: %v, kernel %q initrd %q", err, dom.OS.Kernel, dom.OS.Initrd)
	}
	dom = &libvirtxml.Domain{Name: "ns_a", OS: &libvirtxml.DomainOS{Kernel: "/k", Initrd: "initrd"}}
	if err := Localize(dom, NodeFacts{ImageRoot: "/img"}); err == nil || !strings.Contains(err.Error(), "not absolute") {
		t.Errorf("relative initrd: %v", err)
	}
}

// A file-less disk before others does not stop the others getting the
// format the node found.
func TestLocalizeFormatsAfterAFilelessDisk(t *testing.T) {
	dom := tinyDomain(t)
	dom.Devices.Disks = append([]libvirtxml.DomainDisk{{Device: "cdrom", Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"}}}, dom.Devices.Disks...)
	facts := NodeFacts{VMIDir: "/vmi", DiskFormats: map[string]string{DiskFile("data"): "qcow2", DiskFile("root"): "qcow2"}}
	if err := Localize(dom, facts); err != nil {
		t.Fatal(err)
	}
	for _, d := range dom.Devices.Disks[1:] {
		if d.Driver.Type != "qcow2" || d.BackingStore == nil {
			t.Errorf("disk %s: driver %+v backing store %+v, want qcow2 with an empty backing store", d.Source.File.File, d.Driver, d.BackingStore)
		}
	}
}

// The serial console's socket goes through the agent's link in the socket
// directory (a short path to a socket that lives in the VMI's directory);
// its log stays in the VMI's directory. Without a socket directory both
// are in the VMI's directory.
func TestLocalizeSerialSocket(t *testing.T) {
	unixSerial := func() *libvirtxml.Domain {
		dom := tinyDomain(t)
		src := func() *libvirtxml.DomainChardevSource {
			return &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind", Path: SerialSocketFile}}
		}
		dom.Devices.Serials = []libvirtxml.DomainSerial{{Source: src(), Log: &libvirtxml.DomainChardevLog{File: SerialLogFile, Append: "on"}}}
		dom.Devices.Consoles = []libvirtxml.DomainConsole{{Source: src(), Log: &libvirtxml.DomainChardevLog{File: SerialLogFile, Append: "on"}}}
		return dom
	}
	for _, c := range []struct {
		facts        NodeFacts
		socket, logf string
	}{
		{NodeFacts{ImageRoot: "/img", VMIDir: "/pod/vmi", SocketDir: "/state/vmis/u"}, "/state/vmis/u/vmi/serial.sock", "/pod/vmi/serial.log"},
		{NodeFacts{ImageRoot: "/img", VMIDir: "/pod/vmi"}, "/pod/vmi/serial.sock", "/pod/vmi/serial.log"},
	} {
		dom := unixSerial()
		if err := Localize(dom, c.facts); err != nil {
			t.Fatal(err)
		}
		s, cons := dom.Devices.Serials[0], dom.Devices.Consoles[0]
		if s.Source.UNIX.Path != c.socket || cons.Source.UNIX.Path != c.socket {
			t.Errorf("%+v: sockets %q %q, want %q", c.facts, s.Source.UNIX.Path, cons.Source.UNIX.Path, c.socket)
		}
		if s.Log.File != c.logf || cons.Log.File != c.logf {
			t.Errorf("%+v: logs %q %q, want %q", c.facts, s.Log.File, cons.Log.File, c.logf)
		}
	}
	for name, set := range map[string]func(*libvirtxml.Domain){
		"socket": func(d *libvirtxml.Domain) { d.Devices.Serials[0].Source.UNIX.Path = "/run/x.sock" },
		"log":    func(d *libvirtxml.Domain) { d.Devices.Consoles[0].Log.File = "../serial.log" },
		"empty":  func(d *libvirtxml.Domain) { d.Devices.Serials[0].Source.UNIX.Path = "" },
	} {
		dom := unixSerial()
		set(dom)
		if err := Localize(dom, NodeFacts{ImageRoot: "/img", VMIDir: "/vmi", SocketDir: "/s"}); err == nil || !strings.Contains(err.Error(), "bare file name") {
			t.Errorf("%s: %v, want a bare file name error", name, err)
		}
	}
}

// The serial socket's path as QEMU gets it stays far below the 107 bytes
// of sun_path with the node agent's default state directory.
func TestSerialSocketPathIsShort(t *testing.T) {
	p := "/var/lib/podvirt/vmis/" + "0b8c2b7e-4a55-4f3e-9d8e-2a1c3f4e5d6f" + "/" + VMIDirLink + "/" + SerialSocketFile
	if len(p) > 107 {
		t.Fatalf("%s is %d bytes", p, len(p))
	}
}

// Dedicated CPUs: one vcpupin per vCPU and the emulator pin, replacing any
// cputune the domain had; a pin count other than the vCPUs' is an error.
func TestLocalizeCPUPins(t *testing.T) {
	dom := tinyDomain(t)
	dom.VCPU = &libvirtxml.DomainVCPU{Placement: "static", Value: 2}
	dom.CPUTune = &libvirtxml.DomainCPUTune{Shares: &libvirtxml.DomainCPUTuneShares{Value: 1}}
	if err := Localize(dom, NodeFacts{VMIDir: "/vmi", CPUPins: &CPUPins{VCPUs: []int{4, 5}, Emulator: []int{6}}}); err != nil {
		t.Fatal(err)
	}
	tune := dom.CPUTune
	if tune.Shares != nil || len(tune.VCPUPin) != 2 || tune.VCPUPin[0] != (libvirtxml.DomainCPUTuneVCPUPin{VCPU: 0, CPUSet: "4"}) ||
		tune.VCPUPin[1] != (libvirtxml.DomainCPUTuneVCPUPin{VCPU: 1, CPUSet: "5"}) || tune.EmulatorPin == nil || tune.EmulatorPin.CPUSet != "6" {
		t.Errorf("cputune %+v", tune)
	}
	dom = tinyDomain(t)
	dom.VCPU = &libvirtxml.DomainVCPU{Value: 2}
	if err := Localize(dom, NodeFacts{VMIDir: "/vmi", CPUPins: &CPUPins{VCPUs: []int{4}}}); err == nil || !strings.Contains(err.Error(), "1 CPUs to pin its vCPUs to") {
		t.Errorf("one pin for two vCPUs: %v", err)
	}
	dom = tinyDomain(t)
	if err := Localize(dom, NodeFacts{VMIDir: "/vmi"}); err != nil || dom.CPUTune != nil {
		t.Errorf("no pins: cputune %+v, %v", dom.CPUTune, err)
	}
}

// A persistentVolumeClaim's or hostDisk's disk goes where the node has it:
// a file at its absolute path, or a block device; raw, with no backing
// chain, and not under the VMI's directory. Its rendered bare name is all
// the signed domain says, so nothing else can be placed this way.
func TestLocalizeVolumeDisks(t *testing.T) {
	dom := tinyDomain(t)
	dom.Devices.Disks = append(dom.Devices.Disks, libvirtxml.DomainDisk{
		Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: DiskFile("blk")}},
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
	})
	facts := NodeFacts{
		ImageRoot: "/img", VMIDir: "/vmi",
		DiskFormats: map[string]string{DiskFile("data"): "qcow2"},
		DiskFiles:   map[string]string{DiskFile("data"): "/var/lib/kubelet/pods/u/volumes/kubernetes.io~local-volume/pv1/disk.img"},
		DiskDevices: map[string]string{DiskFile("blk"): "/dev/loop7"},
	}
	if err := Localize(dom, facts); err != nil {
		t.Fatal(err)
	}
	data, root, blk := dom.Devices.Disks[0], dom.Devices.Disks[1], dom.Devices.Disks[2]
	if data.Source.File == nil || data.Source.File.File != facts.DiskFiles[DiskFile("data")] || data.Driver.Type != "raw" || data.BackingStore != nil {
		t.Errorf("PVC file disk: %+v %+v %+v", data.Source.File, data.Driver, data.BackingStore)
	}
	if blk.Source.File != nil || blk.Source.Block == nil || blk.Source.Block.Dev != "/dev/loop7" || blk.Driver.Type != "raw" {
		t.Errorf("block disk: %+v %+v", blk.Source, blk.Driver)
	}
	if root.Source.File.File != "/vmi/disk-root.img" {
		t.Errorf("the VMI's own disk: %q", root.Source.File.File)
	}
	out, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `<disk type="block"`) || !strings.Contains(out, `<source dev="/dev/loop7"`) {
		t.Errorf("the block disk marshals as:\n%s", out)
	}

	for name, bad := range map[string]NodeFacts{
		"relative file":  {DiskFiles: map[string]string{DiskFile("data"): "disk.img"}},
		"unclean file":   {DiskFiles: map[string]string{DiskFile("data"): "/a/../etc/shadow"}},
		"file and block": {DiskFiles: map[string]string{DiskFile("data"): "/a/disk.img"}, DiskDevices: map[string]string{DiskFile("data"): "/dev/loop0"}},
	} {
		bad.VMIDir, bad.ImageRoot = "/vmi", "/img"
		if err := Localize(tinyDomain(t), bad); err == nil {
			t.Errorf("%s: Localize accepted it", name)
		}
	}
}

// The node's domain type replaces the rendered one, and only when set.
func TestLocalizeDomainType(t *testing.T) {
	dom := tinyDomain(t)
	rendered := dom.Type
	if err := Localize(dom, NodeFacts{ImageRoot: "/img", VMIDir: "/vmi"}); err != nil {
		t.Fatal(err)
	}
	if dom.Type != rendered {
		t.Errorf("type %q changed to %q with no node type", rendered, dom.Type)
	}
	again := tinyDomain(t)
	if err := Localize(again, NodeFacts{ImageRoot: "/img", VMIDir: "/vmi", Type: "test"}); err != nil {
		t.Fatal(err)
	}
	if again.Type != "test" {
		t.Errorf("type %q, want the node's test", again.Type)
	}
}
