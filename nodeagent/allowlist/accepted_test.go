package allowlist

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"
)

// richDomain uses everything the allowlist allows, so that the allowlist
// is shown not to refuse what podvirt needs.
const richDomain = `<domain type="kvm">
  <name>default_rich</name>
  <uuid>6f1d2c1e-7b1a-4d8e-9a55-0c3f3b0a9e12</uuid>
  <title>rich</title>
  <metadata><vmi xmlns="https://podvirt.io/domain/v1alpha1" namespace="default" name="rich"/></metadata>
  <maxMemory slots="4" unit="KiB">4194304</maxMemory>
  <memory unit="KiB">1048576</memory>
  <currentMemory unit="KiB">1048576</currentMemory>
  <blkiotune><weight>500</weight></blkiotune>
  <memtune><hard_limit unit="KiB">2097152</hard_limit></memtune>
  <memoryBacking><nosharepages/><source type="memfd"/><access mode="shared"/><allocation mode="immediate"/><discard/></memoryBacking>
  <vcpu placement="static">4</vcpu>
  <iothreads>1</iothreads>
  <cputune><shares>2048</shares><period>100000</period><quota>400000</quota><vcpupin vcpu="0" cpuset="1"/><emulatorpin cpuset="2"/></cputune>
  <numatune><memory mode="strict" nodeset="0"/></numatune>
  <resource><partition>/kubepods/pod1234</partition></resource>
  <sysinfo type="smbios"><system><entry name="serial">/not/a/path</entry></system></sysinfo>
  <sysinfo type="fwcfg"><entry name="opt/podvirt/cloud-init">` + imageRoot + `/seed.iso</entry><entry name="opt/podvirt/x" file="` + imageRoot + `/x.bin"/></sysinfo>
  <os firmware="efi">
    <type arch="x86_64" machine="q35">hvm</type>
    <loader readonly="yes" type="pflash">` + imageRoot + `/OVMF_CODE.fd</loader>
    <nvram template="` + imageRoot + `/OVMF_VARS.fd">` + vmiDir + `/VARS.fd</nvram>
    <kernel>` + imageRoot + `/boot/vmlinux</kernel>
    <initrd>` + imageRoot + `/boot/initrd.img</initrd>
    <cmdline>console=ttyS0 root=/dev/vda</cmdline>
    <acpi><table type="slic">` + imageRoot + `/slic.bin</table></acpi>
    <boot dev="hd"/>
    <bootmenu enable="no"/>
    <smbios mode="sysinfo"/>
  </os>
  <features><acpi/><apic/><smm state="on"/><hyperv><relaxed state="on"/><vapic state="on"/><spinlocks state="on" retries="8191"/><vpindex state="on"/><synic state="on"/><stimer state="on"><direct state="on"/></stimer><vendor_id state="on" value="KVMKVMKVM"/><tlbflush state="on"/><ipi state="on"/></hyperv><kvm><hint-dedicated state="on"/></kvm></features>
  <cpu mode="host-model"><topology sockets="1" dies="1" cores="2" threads="2"/></cpu>
  <clock offset="timezone" timezone="America/New_York"><timer name="rtc" tickpolicy="catchup"/><timer name="hpet" present="no"/><timer name="hypervclock" present="yes"/></clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <pm><suspend-to-mem enabled="no"/></pm>
  <devices>
    <disk type="file" device="disk">
      <driver name="qemu" type="raw" cache="none" io="native" discard="unmap"/>
      <source file="` + vmiDir + `/disks/root.img"/>
      <target dev="vda" bus="virtio"/>
      <boot order="1"/>
    </disk>
    <disk type="file" device="cdrom">
      <driver name="qemu" type="raw"/>
      <source file="` + imageRoot + `/cloudinit.iso"/>
      <target dev="sda" bus="sata"/>
      <readonly/>
    </disk>
    <disk type="file" device="disk">
      <driver name="qemu" type="qcow2"/>
      <source file="` + vmiDir + `/overlay.img"/>
      <backingStore type="file"><format type="raw"/><source file="` + imageRoot + `/base.img"><seclabel model="dac" relabel="no"/></source><backingStore/></backingStore>
      <target dev="vdb" bus="virtio"/>
    </disk>
    <disk type="file" device="cdrom"><target dev="sdb" bus="sata"/><readonly/></disk>
    <controller type="usb" model="qemu-xhci"/>
    <controller type="pci" model="pcie-root"/>
    <controller type="scsi" model="virtio-scsi"/>
    <controller type="virtio-serial"/>
    <interface type="bridge"><mac address="52:54:00:12:34:56"/><source bridge="br-pods"/><model type="virtio"/><mtu size="1450"/></interface>
    <interface type="network"><source network="pods"/><model type="virtio"/><rom enabled="no"/><filterref filter="clean-traffic"/></interface>
    <serial type="file"><source path="` + vmiDir + `/serial.log"/><target port="0"/></serial>
    <serial type="pty"><target port="1"/><log file="` + vmiDir + `/serial1.log" append="on"/></serial>
    <serial type="unix"><source mode="bind" path="` + vmiDir + `/serial.sock"/><target port="2"/><log file="` + vmiDir + `/serial.log" append="on"/></serial>
    <console type="file"><source path="` + vmiDir + `/serial.log"/><target type="serial" port="0"/></console>
    <channel type="unix"><source mode="bind" path="` + vmiDir + `/qga.sock"/><target type="virtio" name="org.qemu.guest_agent.0"/></channel>
    <channel type="null"><target type="virtio" name="podvirt.null"/></channel>
    <input type="tablet" bus="usb"/>
    <input type="tablet" bus="virtio" model="virtio"><alias name="ua-tablet1"/></input>
    <input type="keyboard" bus="ps2"/>
    <graphics type="vnc" port="-1" autoport="yes" listen="127.0.0.1"><listen type="address" address="127.0.0.1"/></graphics>
    <graphics type="vnc"><listen type="socket" socket="` + vmiDir + `/vnc.sock"/></graphics>
    <graphics type="vnc" listen="::1"/>
    <video><model type="virtio" heads="1" primary="yes"/></video>
    <hub type="usb"/>
    <watchdog model="i6300esb" action="reset"/>
    <memballoon model="virtio"><stats period="10"/></memballoon>
    <rng model="virtio"><rate bytes="1024" period="1000"/><backend model="random">/dev/urandom</backend></rng>
    <rng model="virtio"><backend model="builtin"/></rng>
    <panic model="isa"/>
    <tpm model="tpm-tis"><backend type="emulator" version="2.0" persistent_state="no"/></tpm>
  </devices>
  <seclabel type="dynamic" model="selinux" relabel="yes"/>
  <seclabel type="dynamic" model="dac"/>
</domain>`

func richOptions() Options {
	o := testOptions()
	o.AllowedPartitions = []string{"/kubepods/pod1234"}
	o.ChardevSockets = append(o.ChardevSockets, vmiDir+"/qga.sock")
	o.ChardevLogs = append(o.ChardevLogs, vmiDir+"/serial1.log")
	o.PinnableCPUs = []int{1, 2}
	o.AllowedDiskFormats = []string{"raw", "qcow2"}
	o.VerifiedImages = []string{vmiDir + "/overlay.img"}
	return o
}

func TestRichDomainAccepted(t *testing.T) {
	dom := parse(t, richDomain)
	if errs := Check(dom, richOptions()); len(errs) != 0 {
		t.Fatalf("refused:\n%s", dump(errs))
	}
	// What the node agent defines is the re-marshalled struct: it must be
	// accepted too.
	out, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if errs := Check(parse(t, out), richOptions()); len(errs) != 0 {
		t.Fatalf("refused after a round trip:\n%s", dump(errs))
	}
}

func TestOptionalKindsWhenAllowed(t *testing.T) {
	opts := testOptions()
	opts.AllowBlockDisks = true
	opts.AllowNetworkDisks = true
	opts.AllowUserNetworking = true
	opts.AllowedDiskFormats = []string{"raw", "qcow2"}
	xml := withDevices(t, `
<disk type="block"><source dev="`+vmiDir+`/pvc"/><target dev="vdb"/></disk>
<disk type="network"><source protocol="nbd" name="export"><host transport="unix" socket="`+vmiDir+`/nbd.sock"/></source><target dev="vdc"/></disk>
<disk type="network"><driver name="qemu" type="raw"/><source protocol="https" name="/images/x.img"><host name="images.example" port="443"/></source><target dev="vdd"/><readonly/></disk>
<disk type="file"><driver name="qemu" type="qcow2"/><source file="`+vmiDir+`/root.qcow2"/><backingStore/><target dev="vde"/></disk>
<interface type="user"><model type="virtio"/></interface>`)
	opts.VerifiedImages = []string{vmiDir + "/root.qcow2"}
	if errs := Check(parse(t, xml), opts); len(errs) != 0 {
		t.Fatalf("refused:\n%s", dump(errs))
	}
	// A format with headers needs a checked file and an empty backing store.
	for _, c := range []struct{ name, disk, path string }{
		{"unchecked", `<disk type="file"><driver name="qemu" type="qcow2"/><source file="` + vmiDir + `/other.qcow2"/><backingStore/><target dev="vda"/></disk>`, "devices.disk[0].source.file"},
		{"no empty backing store", `<disk type="file"><driver name="qemu" type="qcow2"/><source file="` + vmiDir + `/root.qcow2"/><target dev="vda"/></disk>`, "devices.disk[0].backingStore"},
		{"a backing file without its own empty backing store", `<disk type="file"><driver name="qemu" type="qcow2"/><source file="` + vmiDir + `/root.qcow2"/><backingStore type="file"><format type="raw"/><source file="` + imageRoot + `/base.img"/></backingStore><target dev="vda"/></disk>`, "devices.disk[0].backingStore.backingStore"},
		{"over the network", `<disk type="network"><driver name="qemu" type="qcow2"/><source protocol="https" name="/images/x.qcow2"><host name="images.example" port="443"/></source><backingStore/><target dev="vda"/><readonly/></disk>`, "devices.disk[0].source.file"},
	} {
		if errs := Check(parse(t, withDevices(t, c.disk)), opts); !hasError(errs, c.path, "header") && !hasError(errs, c.path, "backing store") {
			t.Errorf("qcow2 %s accepted or refused for another reason:\n%s", c.name, dump(errs))
		}
	}
	xml = withDevices(t, `<disk type="network"><source protocol="nbd"><host transport="unix" socket="/run/nbd.sock"/></source><target dev="vdc"/></disk>`)
	if errs := Check(parse(t, xml), opts); !hasError(errs, "devices.disk[0].source.host[0].socket", "outside") {
		t.Fatalf("an nbd socket outside the VMI's directory:\n%s", dump(errs))
	}
	xml = withDevices(t, `<disk type="network"><source protocol="rbd" name="p/i"><host name="mon"/><config file="/etc/ceph/ceph.conf"/><auth username="admin"><secret type="ceph" usage="admin"/></auth></source><target dev="vdc"/></disk>`)
	errs := Check(parse(t, xml), opts)
	if !hasError(errs, "devices.disk[0].source.config", "host file") || !hasError(errs, "devices.disk[0].source.auth", "secrets") {
		t.Fatalf("an rbd disk with a host config file and a libvirt secret:\n%s", dump(errs))
	}
	// The block device itself must be in the directories.
	xml = withDevices(t, `<disk type="block"><source dev="/dev/sda"/><target dev="vdb"/></disk>`)
	if errs := Check(parse(t, xml), opts); !hasError(errs, "devices.disk[0].source.dev", "outside") {
		t.Fatalf("/dev/sda with block disks allowed:\n%s", dump(errs))
	}
}

func TestNilDomain(t *testing.T) {
	if errs := Check(nil, testOptions()); !hasError(errs, "domain", "Required") {
		t.Fatalf("nil domain: %s", dump(errs))
	}
}

func TestEmptyDomainAccepted(t *testing.T) {
	// Nothing to refuse; libvirt will say what is missing.
	if errs := Check(&libvirtxml.Domain{Type: "kvm"}, Options{}); len(errs) != 0 {
		t.Fatalf("refused:\n%s", dump(errs))
	}
	if errs := Check(&libvirtxml.Domain{}, Options{}); !hasError(errs, "type", "Unsupported value") {
		t.Fatalf("a domain without a type:\n%s", dump(errs))
	}
}

func TestOptionsChecked(t *testing.T) {
	opts := testOptions()
	opts.AllowedDirs = []string{"relative/dir", "/", vmiDir}
	opts.ReadOnlyDirs = []string{"//"}
	errs := Check(parse(t, tinyXML(t, imageRoot, vmiDir)), opts)
	for _, want := range []string{"options.allowedDirs[0]", "options.allowedDirs[1]", "options.readOnlyDirs[0]"} {
		if !hasError(errs, want, "Invalid value") {
			t.Errorf("want an error on %s:\n%s", want, dump(errs))
		}
	}
	// The root refused, the kernel has no readable directory left.
	if !hasError(errs, "os.kernel", "outside") {
		t.Errorf("the kernel was allowed without its directory:\n%s", dump(errs))
	}
	if hasError(errs, "devices.serial[0].source.path", "") {
		t.Errorf("the valid directory was dropped too:\n%s", dump(errs))
	}
}

func TestReadOnlyDirInsideWritableDir(t *testing.T) {
	opts := testOptions()
	opts.AllowedDirs = []string{"/var/lib/podvirt"}
	opts.ReadOnlyDirs = []string{imageRoot, "/var/lib/podvirt"}
	errs := Check(parse(t, tinyXML(t, imageRoot, vmiDir)), opts)
	for _, want := range []string{"options.readOnlyDirs[0]", "options.readOnlyDirs[1]"} {
		if !hasError(errs, want, "would be writable") {
			t.Errorf("want %s refused:\n%s", want, dump(errs))
		}
	}
}

func TestNoDirectoriesRefuseEveryFile(t *testing.T) {
	errs := Check(parse(t, tinyXML(t, imageRoot, vmiDir)), Options{ResolveSymlinks: Lexical})
	for _, want := range []string{"os.kernel", "os.initrd", "devices.serial[0].source.path", "devices.console[0].source.path"} {
		if !hasError(errs, want, "(none)") && !hasError(errs, want, "outside") {
			t.Errorf("want %s refused:\n%s", want, dump(errs))
		}
	}
}

// A refusal names the directories the file had to be in, or says there
// are none.
func TestRefusalsNameTheDirectories(t *testing.T) {
	xml := replace(t, imageRoot+"/boot/vmlinux", "/boot/vmlinuz")
	errs := Check(parse(t, xml), testOptions())
	want := `"/boot/vmlinuz" is outside the readable directories [` + vmiDir + " " + imageRoot + "]"
	if !hasError(errs, "os.kernel", want) {
		t.Errorf("want %s, got:\n%s", want, dump(errs))
	}
	errs = Check(parse(t, xml), Options{ResolveSymlinks: Lexical})
	want = `"/boot/vmlinuz" is outside the readable directories (none)`
	if !hasError(errs, "os.kernel", want) {
		t.Errorf("want %s, got:\n%s", want, dump(errs))
	}
}

// Control characters (below space, and DEL) are refused in file names;
// spaces and other printable characters are not.
func TestFileNameCharacters(t *testing.T) {
	for _, c := range []struct {
		name    string
		refused bool
	}{
		{"disk.img", false},
		{"my disk.img", false},
		{"disk~1!.img", false},
		{"disk\x1f.img", true},
		{"disk\x7f.img", true},
		{"disk\t.img", true},
	} {
		dom := parse(t, tinyXML(t, imageRoot, vmiDir))
		dom.Devices.Disks = []libvirtxml.DomainDisk{{
			Device: "disk",
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: vmiDir + "/" + c.name}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vda"},
		}}
		errs := Check(dom, testOptions())
		if refused := hasError(errs, "devices.disk[0].source.file", "control characters"); refused != c.refused || (!c.refused && len(errs) != 0) {
			t.Errorf("%q: refused %v, want %v:\n%s", c.name, refused, c.refused, dump(errs))
		}
	}
}

func TestWritableDirsAreReadable(t *testing.T) {
	xml := replace(t, imageRoot+"/boot/vmlinux", vmiDir+"/vmlinux")
	if errs := Check(parse(t, xml), testOptions()); len(errs) != 0 {
		t.Fatalf("a kernel in the VMI's directory:\n%s", dump(errs))
	}
}

// symlinkFixture makes an allowed VMI directory and an image directory on
// disk, with hostile links inside.
func symlinkFixture(t *testing.T) (vmi, img, outside string) {
	t.Helper()
	root := t.TempDir()
	vmi = filepath.Join(root, "vmis", "default_tiny")
	img = filepath.Join(root, "images", "abc")
	outside = filepath.Join(root, "host")
	for _, d := range []string{vmi, img, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(outside, "shadow"), filepath.Join(img, "vmlinux")} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		filepath.Join(vmi, "serial.log"):  filepath.Join(outside, "shadow"),   // file link out
		filepath.Join(vmi, "dangling"):    filepath.Join(outside, "new-file"), // QEMU would create it
		filepath.Join(vmi, "sub"):         outside,                            // directory link out
		filepath.Join(vmi, "kernel"):      filepath.Join(img, "vmlinux"),      // into the read-only dir
		filepath.Join(vmi, "inside.log"):  filepath.Join(vmi, "real.log"),     // stays inside, dangling
		filepath.Join(vmi, "relative"):    "../../host/shadow",                // relative link out
		filepath.Join(vmi, "loop"):        filepath.Join(vmi, "loop"),         // a loop
		filepath.Join(vmi, "self-inside"): vmi,                                // the dir itself
	}
	for link, target := range links {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	return vmi, img, outside
}

func TestSymlinks(t *testing.T) {
	vmi, img, _ := symlinkFixture(t)
	opts := Options{AllowedDirs: []string{vmi}, ReadOnlyDirs: []string{img}}
	serial := func(path string) *libvirtxml.Domain {
		return &libvirtxml.Domain{Type: "kvm", Devices: &libvirtxml.DomainDeviceList{Serials: []libvirtxml.DomainSerial{{
			Source: &libvirtxml.DomainChardevSource{File: &libvirtxml.DomainChardevSourceFile{Path: path}},
		}}}}
	}
	const p = "devices.serial[0].source.path"
	for _, tc := range []struct {
		name, path, detail string
	}{
		{"file link out", vmi + "/serial.log", "symbolic link"},
		{"dangling link", vmi + "/dangling", "dangling"},
		{"directory link out", vmi + "/sub/shadow", "symbolic link"},
		{"directory link out, new file", vmi + "/sub/new", "symbolic link"},
		{"link into the read-only dir, written", vmi + "/kernel", "symbolic link"},
		{"relative link out", vmi + "/relative", "symbolic link"},
		{"link loop", vmi + "/loop", "resolving symbolic links"},
		{"dangling link inside", vmi + "/inside.log", "dangling"},
		{"the dir through a link", vmi + "/self-inside", "outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if errs := Check(serial(tc.path), opts); !hasError(errs, p, tc.detail) {
				t.Fatalf("want %s: ...%s..., got:\n%s", p, tc.detail, dump(errs))
			}
		})
	}
	for _, ok := range []string{vmi + "/new.log", vmi + "/self-inside/new.log", vmi + "/not/yet/there.log"} {
		if errs := Check(serial(ok), opts); len(errs) != 0 {
			t.Errorf("%s refused:\n%s", ok, dump(errs))
		}
	}
	// Read-only: a link from the VMI's directory into the image is fine.
	dom := &libvirtxml.Domain{Type: "kvm", OS: &libvirtxml.DomainOS{Kernel: vmi + "/kernel"}}
	if errs := Check(dom, opts); len(errs) != 0 {
		t.Errorf("kernel link into the image refused:\n%s", dump(errs))
	}
	// Lexical does not look at the disk.
	opts.ResolveSymlinks = Lexical
	if errs := Check(serial(vmi+"/serial.log"), opts); len(errs) != 0 {
		t.Errorf("Lexical resolved a link:\n%s", dump(errs))
	}
}

func TestResolverErrorsRefuse(t *testing.T) {
	opts := testOptions()
	opts.ResolveSymlinks = func(p string) (string, error) {
		if strings.HasSuffix(p, ".log") {
			return "", os.ErrPermission
		}
		return p, nil
	}
	errs := Check(parse(t, tinyXML(t, imageRoot, vmiDir)), opts)
	if !hasError(errs, "devices.serial[0].log.file", "permission denied") {
		t.Fatalf("a path the resolver failed on was accepted:\n%s", dump(errs))
	}
	opts.ResolveSymlinks = func(p string) (string, error) {
		if p == vmiDir {
			return "", os.ErrNotExist
		}
		return p, nil
	}
	if errs := Check(parse(t, tinyXML(t, imageRoot, vmiDir)), opts); !hasError(errs, "options.allowedDirs[0]", "resolving") {
		t.Fatalf("an unresolvable directory was used:\n%s", dump(errs))
	}
}

func TestEvalSymlinks(t *testing.T) {
	vmi, _, outside := symlinkFixture(t)
	for in, want := range map[string]string{
		vmi + "/sub/shadow":      outside + "/shadow",
		vmi + "/sub/a/b":         outside + "/a/b",
		vmi + "/missing/a/b":     vmi + "/missing/a/b",
		"/nonexistent-root/a/b":  "/nonexistent-root/a/b",
		vmi + "/self-inside/x/y": vmi + "/x/y",
	} {
		got, err := EvalSymlinks(in)
		if err != nil {
			t.Errorf("EvalSymlinks(%s): %v", in, err)
			continue
		}
		// TempDir may itself sit behind a link (macOS /var -> /private/var).
		if wantResolved, _ := EvalSymlinks(filepath.Dir(want)); got != filepath.Join(wantResolved, filepath.Base(want)) && got != want {
			t.Errorf("EvalSymlinks(%s) = %s, want %s", in, got, want)
		}
	}
	if _, err := EvalSymlinks(vmi + "/dangling/x"); err == nil {
		t.Error("a path under a dangling link resolved")
	}
}

// Structs built in Go can hold what no XML parses into: several kinds at
// once, or the legacy IOMMU field alone. Every kind set is checked.
func TestProgrammaticDomains(t *testing.T) {
	dom := &libvirtxml.Domain{Type: "kvm", Devices: &libvirtxml.DomainDeviceList{
		Disks: []libvirtxml.DomainDisk{{Source: &libvirtxml.DomainDiskSource{
			File:  &libvirtxml.DomainDiskSourceFile{File: vmiDir + "/ok.img"},
			Block: &libvirtxml.DomainDiskSourceBlock{Dev: "/dev/sda"},
			Dir:   &libvirtxml.DomainDiskSourceDir{Dir: "/"},
		}}},
		IOMMU:      &libvirtxml.DomainIOMMU{Model: "intel"},
		Interfaces: []libvirtxml.DomainInterface{{Model: &libvirtxml.DomainInterfaceModel{Type: "virtio"}}},
		Serials: []libvirtxml.DomainSerial{{Source: &libvirtxml.DomainChardevSource{
			File: &libvirtxml.DomainChardevSourceFile{Path: vmiDir + "/serial.log"},
			Dev:  &libvirtxml.DomainChardevSourceDev{Path: "/dev/ttyS0"},
		}}},
	}}
	errs := Check(dom, testOptions())
	for _, want := range []struct{ path, detail string }{
		{"devices.disk[0].type", `"block"`},
		{"devices.disk[0].source.dev", "outside"},
		{"devices.disk[0].type", `"dir"`},
		{"devices.iommu", "device assignment"},
		{"devices.interface[0].type", "Required"},
		{"devices.serial[0].type", `"dev"`},
	} {
		if !hasError(errs, want.path, want.detail) {
			t.Errorf("want %s: ...%s...:\n%s", want.path, want.detail, dump(errs))
		}
	}
}

func TestDriverWithoutFormatIsRaw(t *testing.T) {
	xml := withDevices(t, `<disk type="file"><driver name="qemu" cache="none"/><source file="`+vmiDir+`/d.img"/><target dev="vdb"/></disk>`)
	if errs := Check(parse(t, xml), testOptions()); len(errs) != 0 {
		t.Fatalf("refused:\n%s", dump(errs))
	}
}

func TestMetadataMustBeBalanced(t *testing.T) {
	for _, bad := range []string{
		`</metadata><devices><hostdev mode="subsystem" type="pci"/></devices><metadata>`,
		`</podvirt-allowlist-wrapper><x/><podvirt-allowlist-wrapper>`,
		`<open>`,
		`<a></b>`,
		`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/shadow">]>`,
	} {
		dom := &libvirtxml.Domain{Type: "kvm", Metadata: &libvirtxml.DomainMetadata{XML: bad}}
		if errs := Check(dom, testOptions()); !hasError(errs, "metadata", "verbatim") {
			t.Errorf("metadata %q accepted:\n%s", bad, dump(errs))
		}
	}
	for _, good := range []string{"", "text", `<vmi xmlns="https://podvirt.io/domain/v1alpha1" name="x"/><other>t</other>`} {
		dom := &libvirtxml.Domain{Type: "kvm", Metadata: &libvirtxml.DomainMetadata{XML: good}}
		if errs := Check(dom, testOptions()); len(errs) != 0 {
			t.Errorf("metadata %q refused:\n%s", good, dump(errs))
		}
	}
}

// A qcow2 overlay may have one backing file: a read-only image's, of an
// explicit format, checked if qcow2, with an empty backing store of its
// own; the only seclabel it may carry keeps libvirt from chowning it.
func TestOneLevelBackingChain(t *testing.T) {
	opts := testOptions()
	opts.AllowedDiskFormats = []string{"raw", "qcow2"}
	opts.VerifiedImages = []string{vmiDir + "/root.qcow2", imageRoot + "/disk/base.qcow2"}
	disk := func(top, backing string) string {
		return `<disk type="file"><driver name="qemu" type="` + top + `"/><source file="` + vmiDir + `/root.qcow2"/>` + backing + `<target dev="vda"/></disk>`
	}
	chain := func(format, file, seclabel, rest string) string {
		return `<backingStore type="file"><format type="` + format + `"/><source file="` + file + `">` + seclabel + `</source>` + rest + `</backingStore>`
	}
	const norelabel = `<seclabel model="dac" relabel="no"/>`
	for _, c := range []struct{ name, disk, path, why string }{
		{"raw image, no relabel", disk("qcow2", chain("raw", imageRoot+"/disk/base.img", norelabel, "<backingStore/>")), "", ""},
		{"raw image", disk("qcow2", chain("raw", imageRoot+"/disk/base.img", "", "<backingStore/>")), "", ""},
		{"checked qcow2 image", disk("qcow2", chain("qcow2", imageRoot+"/disk/base.qcow2", norelabel, "<backingStore/>")), "", ""},
		{"unchecked qcow2 image", disk("qcow2", chain("qcow2", imageRoot+"/disk/other.qcow2", norelabel, "<backingStore/>")),
			"devices.disk[0].backingStore.source.file", "did not check"},
		{"a file of the VMI's own directory", disk("qcow2", chain("raw", vmiDir+"/disk-data.img", norelabel, "<backingStore/>")),
			"devices.disk[0].backingStore.source.file", "outside the read-only image directories"},
		{"a host file", disk("qcow2", chain("raw", "/etc/shadow", norelabel, "<backingStore/>")),
			"devices.disk[0].backingStore.source.file", "outside"},
		{"no format: libvirt would probe", `<disk type="file"><driver name="qemu" type="qcow2"/><source file="` + vmiDir + `/root.qcow2"/><backingStore type="file"><source file="` + imageRoot + `/disk/base.img"/><backingStore/></backingStore><target dev="vda"/></disk>`,
			"devices.disk[0].backingStore.format.type", "Unsupported value"},
		{"vmdk", disk("qcow2", chain("vmdk", imageRoot+"/disk/base.vmdk", norelabel, "<backingStore/>")),
			"devices.disk[0].backingStore.format.type", "Unsupported value"},
		{"two levels", disk("qcow2", chain("qcow2", imageRoot+"/disk/base.qcow2", norelabel, chain("raw", imageRoot+"/disk/base.img", "", "<backingStore/>"))),
			"devices.disk[0].backingStore.backingStore", "one level"},
		{"an open end: libvirt would probe the rest", disk("qcow2", chain("raw", imageRoot+"/disk/base.img", norelabel, "")),
			"devices.disk[0].backingStore.backingStore", "one level"},
		{"relabelled to a user", disk("qcow2", chain("raw", imageRoot+"/disk/base.img", `<seclabel model="dac" relabel="yes"><label>+0:+0</label></seclabel>`, "<backingStore/>")),
			"devices.disk[0].backingStore.source.seclabel[0]", "only seclabel"},
		{"an selinux label", disk("qcow2", chain("raw", imageRoot+"/disk/base.img", `<seclabel model="selinux" relabel="no"/>`, "<backingStore/>")),
			"devices.disk[0].backingStore.source.seclabel[0]", "only seclabel"},
		{"a raw disk with a backing file", `<disk type="file"><driver name="qemu" type="raw"/><source file="` + vmiDir + `/d.img"/>` + chain("raw", imageRoot+"/disk/base.img", norelabel, "<backingStore/>") + `<target dev="vda"/></disk>`,
			"devices.disk[0].backingStore", "only for a qcow2 overlay"},
		{"a network backing store", `<disk type="file"><driver name="qemu" type="qcow2"/><source file="` + vmiDir + `/root.qcow2"/><backingStore type="network"><format type="raw"/><source protocol="nbd" name="x"><host name="h"/></source><backingStore/></backingStore><target dev="vda"/></disk>`,
			"devices.disk[0].backingStore.source", "file of a read-only image"},
	} {
		errs := Check(parse(t, withDevices(t, c.disk)), opts)
		if c.path == "" {
			if len(errs) != 0 {
				t.Errorf("%s refused:\n%s", c.name, dump(errs))
			}
			continue
		}
		if !hasError(errs, c.path, c.why) {
			t.Errorf("%s: want %s refused (%q):\n%s", c.name, c.path, c.why, dump(errs))
		}
	}
}
