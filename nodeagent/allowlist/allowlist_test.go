package allowlist

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvirt/podvirt/domainspec"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"libvirt.org/go/libvirtxml"
)

const (
	imageRoot = "/var/lib/podvirt/images/sha256-ab/rootfs"
	vmiDir    = "/var/lib/podvirt/vmis/default_tiny"
)

// testOptions are a node's options for paths that exist only on paper.
func testOptions() Options {
	return Options{
		AllowedDirs:     []string{vmiDir},
		ReadOnlyDirs:    []string{imageRoot},
		ResolveSymlinks: Lexical,
		AllowedBridges:  []string{"br-pods"},
		AllowedNetworks: []string{"pods"},
		ChardevSockets:  []string{vmiDir + "/serial.sock"},
		ChardevLogs:     []string{vmiDir + "/serial.log"},
	}
}

// tinyXML is the launcher's golden tiny domain, localized the way the node
// agent does it, marshalled back.
func tinyXML(t testing.TB, imageRoot, vmiDir string) string {
	t.Helper()
	raw, err := os.ReadFile("../../launcher/domain/testdata/tiny.xml")
	if err != nil {
		t.Fatal(err)
	}
	dom, err := domainspec.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := domainspec.Localize(dom, domainspec.NodeFacts{ImageRoot: imageRoot, VMIDir: vmiDir}); err != nil {
		t.Fatal(err)
	}
	out, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func parse(t testing.TB, xml string) *libvirtxml.Domain {
	t.Helper()
	dom := &libvirtxml.Domain{}
	if err := dom.Unmarshal(xml); err != nil {
		t.Fatalf("%v\n%s", err, xml)
	}
	return dom
}

func TestTinyDomainAccepted(t *testing.T) {
	dom := parse(t, tinyXML(t, imageRoot, vmiDir))
	if errs := Check(dom, testOptions()); len(errs) != 0 {
		t.Fatalf("the rendered tiny domain is refused:\n%v", errs.ToAggregate())
	}
	if dom.OS.Kernel != imageRoot+"/boot/vmlinux" || dom.Devices.Serials[0].Source.UNIX.Path != vmiDir+"/serial.sock" || dom.Devices.Serials[0].Log.File != vmiDir+"/serial.log" {
		t.Fatalf("not localized: kernel %q, serial %+v", dom.OS.Kernel, dom.Devices.Serials[0])
	}
}

// On a real file system with the default resolver, including a VMI
// directory reached through a symbolic link and a serial log that does not
// exist yet.
func TestTinyDomainAcceptedOnDisk(t *testing.T) {
	root := t.TempDir()
	img := filepath.Join(root, "images", "sha256-ab", "rootfs")
	if err := os.MkdirAll(filepath.Join(img, "boot"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"boot/vmlinux", "boot/initrd.img"} {
		if err := os.WriteFile(filepath.Join(img, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	real := filepath.Join(root, "data", "default_tiny")
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "vmis"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "vmis", "default_tiny")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	dom := parse(t, tinyXML(t, img, link))
	opts := Options{AllowedDirs: []string{link}, ReadOnlyDirs: []string{img},
		ChardevSockets: []string{link + "/serial.sock"}, ChardevLogs: []string{link + "/serial.log"}}
	if errs := Check(dom, opts); len(errs) != 0 {
		t.Fatalf("refused:\n%v", errs.ToAggregate())
	}
}

// withDevices inserts devices into the tiny domain's <devices>.
func withDevices(t testing.TB, devices string) string {
	return strings.Replace(tinyXML(t, imageRoot, vmiDir), "</devices>", devices+"</devices>", 1)
}

// withTop inserts elements at the top of the tiny domain.
func withTop(t testing.TB, top string) string {
	return strings.Replace(tinyXML(t, imageRoot, vmiDir), "<devices>", top+"<devices>", 1)
}

func replace(t testing.TB, old, new string) string {
	x := tinyXML(t, imageRoot, vmiDir)
	if !strings.Contains(x, old) {
		t.Fatalf("%q is not in the tiny domain", old)
	}
	return strings.Replace(x, old, new, 1)
}

const qemuNS = `xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"`

// hostileCase is a domain the allowlist must refuse, and the refusal
// expected.
type hostileCase struct {
	name, xml, path, detail string
}

func hostileDomains(t testing.TB) []hostileCase {
	return []hostileCase{
		// Host devices.
		{"pci hostdev", withDevices(t, `<hostdev mode="subsystem" type="pci" managed="yes"><source><address domain="0" bus="3" slot="0" function="0"/></source></hostdev>`), "devices.hostdev[0]", "host hardware"},
		{"usb hostdev", withDevices(t, `<hostdev mode="subsystem" type="usb"><source><vendor id="0x1234"/><product id="0xbeef"/></source></hostdev>`), "devices.hostdev[0]", "host hardware"},
		{"second hostdev", withDevices(t, `<hostdev mode="subsystem" type="pci"/><hostdev mode="subsystem" type="mdev"><source><address uuid="c2177883-f1bb-47f0-914d-32a22e3a8804"/></source></hostdev>`), "devices.hostdev[1]", "host hardware"},
		{"interface hostdev", withDevices(t, `<interface type="hostdev"><source><address type="pci" domain="0" bus="2" slot="7" function="0"/></source></interface>`), "devices.interface[0].type", "host network device"},
		{"interface direct", withDevices(t, `<interface type="direct"><source dev="eth0" mode="bridge"/></interface>`), "devices.interface[0].type", "host network device"},
		{"interface vhostuser", withDevices(t, `<interface type="vhostuser"><source type="unix" path="/run/openvswitch/vhu0" mode="client"/></interface>`), "devices.interface[0].type", "host process"},
		{"interface ethernet script", withDevices(t, `<interface type="ethernet"><script path="/tmp/owned.sh"/></interface>`), "devices.interface[0].script", "host program"},
		{"interface ethernet host address", withDevices(t, `<interface type="ethernet"><ip address="10.0.0.1" prefix="8"/></interface>`), "devices.interface[0].ip[0]", "host's network"},
		{"interface ethernet host route", withDevices(t, `<interface type="ethernet"><route family="ipv4" address="0.0.0.0" prefix="0" gateway="10.0.0.1"/></interface>`), "devices.interface[0].route[0]", "routing"},
		{"interface ethernet source address", withDevices(t, `<interface type="ethernet"><source><ip address="10.0.0.1" prefix="8"/></source></interface>`), "devices.interface[0].source.ip[0]", "host's network"},
		{"interface takes over a host device", withDevices(t, `<interface type="ethernet"><target dev="eth0"/></interface>`), "devices.interface[0].target.dev", "taken over"},
		{"interface mcast", withDevices(t, `<interface type="mcast"><source address="230.0.0.1" port="5558"/></interface>`), "devices.interface[0].type", "network namespace"},
		{"interface bridge not allowed", withDevices(t, `<interface type="bridge"><source bridge="br0"/></interface>`), "devices.interface[0].source.bridge", "not an allowed bridge"},
		{"interface network not allowed", withDevices(t, `<interface type="network"><source network="default"/></interface>`), "devices.interface[0].source.network", "not an allowed libvirt network"},
		{"interface user by default", withDevices(t, `<interface type="user"/>`), "devices.interface[0].type", "loopback"},
		{"interface virtualport", withDevices(t, `<interface type="bridge"><source bridge="br-pods"/><virtualport type="openvswitch"/></interface>`), "devices.interface[0].virtualport", "Open vSwitch"},
		{"interface vlan", withDevices(t, `<interface type="bridge"><source bridge="br-pods"/><vlan><tag id="42"/></vlan></interface>`), "devices.interface[0].vlan", "VLAN"},
		{"interface tap backend", withDevices(t, `<interface type="network"><source network="pods"/><backend tap="/dev/net/tun" vhost="/dev/vhost-net"/></interface>`), "devices.interface[0].backend", "host devices"},
		{"interface rom file", withDevices(t, `<interface type="network"><source network="pods"/><rom file="/etc/shadow"/></interface>`), "devices.interface[0].rom.file", "outside"},
		{"interface unmanaged tap", withDevices(t, `<interface type="network"><source network="pods"/><target dev="eth0" managed="no"/></interface>`), "devices.interface[0].target.managed", "existing host device"},
		{"interface port forward", withDevices(t, `<interface type="user"><backend type="passt"/><portForward proto="tcp"><range start="22"/></portForward></interface>`), "devices.interface[0].portForward[0]", "host ports"},
		{"smartcard host", withDevices(t, `<smartcard mode="host"/>`), "devices.smartcard[0]", "host's readers"},
		{"redirdev", withDevices(t, `<redirdev bus="usb" type="tcp"><source mode="connect" host="localhost" service="4000"/></redirdev>`), "devices.redirdev[0]", "USB"},
		{"tpm passthrough", withDevices(t, `<tpm model="tpm-tis"><backend type="passthrough"><device path="/dev/tpm0"/></backend></tpm>`), "devices.tpm[0].backend.type", "host's TPM"},
		{"tpm external swtpm", withDevices(t, `<tpm model="tpm-crb"><backend type="external"><source type="unix" mode="connect" path="/run/swtpm.sock"/></backend></tpm>`), "devices.tpm[0].backend.type", "host swtpm socket"},
		{"tpm persistent state", withDevices(t, `<tpm model="tpm-crb"><backend type="emulator" version="2.0" persistent_state="yes"/></tpm>`), "devices.tpm[0].backend.persistent_state", "outlive the domain"},
		{"tpm state at a host path", withDevices(t, `<tpm model="tpm-crb"><backend type="emulator" version="2.0"><source type="dir" path="/etc"/></backend></tpm>`), "devices.tpm[0].backend.source", "host path"},
		{"tpm encrypted with a host secret", withDevices(t, `<tpm model="tpm-tis"><backend type="emulator" version="2.0"><encryption secret="6dd3e4a5-1d76-44ce-961f-f119f5aad935"/></backend></tpm>`), "devices.tpm[0].backend.encryption", "libvirt secrets"},
		{"tpm debug log", withDevices(t, `<tpm model="tpm-tis"><backend type="emulator" version="2.0" debug="20"/></tpm>`), "devices.tpm[0].backend.debug", "swtpm log"},
		{"tpm spapr proxy", withDevices(t, `<tpm model="spapr-tpm-proxy"><backend type="emulator" version="2.0"/></tpm>`), "devices.tpm[0].model", "Unsupported value"},
		{"tpm without backend", withDevices(t, `<tpm model="tpm-tis"/>`), "devices.tpm[0].backend", "needs a backend"},
		{"two tpms", withDevices(t, `<tpm model="tpm-tis"><backend type="emulator" version="2.0"/></tpm><tpm model="tpm-crb"><backend type="emulator" version="2.0"/></tpm>`), "devices.tpm[1]", "one emulated TPM"},
		{"timezone file", withTop(t, `<clock offset="timezone" timezone=":/etc/shadow"/>`), "clock.timezone", "not a path"},
		{"timezone climbing", withTop(t, `<clock offset="timezone" timezone="../../../etc/shadow"/>`), "clock.timezone", "not a path"},
		{"vcpu pinned off the container's CPUs", withTop(t, `<cputune><vcpupin vcpu="0" cpuset="0-1"/></cputune>`), "cputune.vcpupin[0].cpuset", "given exclusively"},
		{"emulator pinned off the container's CPUs", withTop(t, `<cputune><emulatorpin cpuset="7"/></cputune>`), "cputune.emulatorpin.cpuset", "given exclusively"},
		{"iothread pinned badly", withTop(t, `<cputune><iothreadpin iothread="1" cpuset="^1"/></cputune>`), "cputune.iothreadpin[0].cpuset", "not a CPU list"},
		{"input passthrough", withDevices(t, `<input type="passthrough" bus="virtio"><source evdev="/dev/input/event1"/></input>`), "devices.input[0].source", "host input device"},
		{"input evdev", withDevices(t, `<input type="evdev"><source dev="/dev/input/event1" grab="all"/></input>`), "devices.input[0].type", "Unsupported value"},
		{"shmem", withDevices(t, `<shmem name="host-shared"><model type="ivshmem-plain"/><size unit="M">4</size></shmem>`), "devices.shmem[0]", "shared"},
		{"virtiofs", withDevices(t, `<filesystem type="mount" accessmode="passthrough"><driver type="virtiofs"/><source dir="/"/><target dir="rootfs"/></filesystem>`), "devices.filesystem[0]", "host directories"},
		{"9p", withDevices(t, `<filesystem type="mount" accessmode="mapped"><source dir="/etc"/><target dir="etc"/></filesystem>`), "devices.filesystem[0]", "host directories"},
		{"nvdimm", withDevices(t, `<memory model="nvdimm"><source><path>/dev/pmem0</path></source><target><size unit="KiB">524288</size><node>0</node></target></memory>`), "devices.memory[0]", "host files"},
		{"vsock", withDevices(t, `<vsock model="virtio"><cid auto="yes"/></vsock>`), "devices.vsock", "host sockets"},
		{"sound", withDevices(t, `<sound model="ich9"/>`), "devices.sound[0]", "audio"},
		{"audio file", withDevices(t, `<audio id="1" type="file" path="/etc/cron.d/x"/>`), "devices.audio[0]", "audio"},
		{"lease", withDevices(t, `<lease><lockspace>s</lockspace><key>k</key><target path="/etc/passwd"/></lease>`), "devices.lease[0]", "host files"},
		{"pstore", withDevices(t, `<pstore backend="acpi-erst"><path>/etc/motd</path><size unit="KiB">8</size></pstore>`), "devices.pstore", "host file"},
		{"crypto", withDevices(t, `<crypto model="virtio" type="qemu"><backend model="lkcf"/></crypto>`), "devices.crypto[0]", "crypto"},
		{"iommu", withDevices(t, `<iommu model="intel"/>`), "devices.iommu[0]", "device assignment"},

		// Disks.
		{"disk outside", withDevices(t, `<disk type="file" device="disk"><source file="/etc/shadow"/><target dev="vda" bus="virtio"/></disk>`), "devices.disk[0].source.file", "outside the writable directories"},
		{"disk relative", withDevices(t, `<disk type="file"><source file="disk.img"/><target dev="vda"/></disk>`), "devices.disk[0].source.file", "absolute"},
		{"disk dotdot", withDevices(t, `<disk type="file"><source file="`+vmiDir+`/../other_vmi/disk.img"/><target dev="vda"/></disk>`), "devices.disk[0].source.file", `".."`},
		{"disk prefix sibling", withDevices(t, `<disk type="file"><source file="`+vmiDir+`-evil/disk.img"/><target dev="vda"/></disk>`), "devices.disk[0].source.file", "outside"},
		{"disk is the dir", withDevices(t, `<disk type="file"><source file="`+vmiDir+`/"/><target dev="vda"/></disk>`), "devices.disk[0].source.file", "outside"},
		{"writable disk in the image cache", withDevices(t, `<disk type="file"><source file="`+imageRoot+`/disk.img"/><target dev="vda"/></disk>`), "devices.disk[0].source.file", "outside the writable directories"},
		{"transient disk in the image cache", withDevices(t, `<disk type="file"><source file="`+imageRoot+`/disk.img"/><target dev="vda"/><readonly/><transient/></disk>`), "devices.disk[0].source.file", "outside the writable directories"},
		{"block disk", withDevices(t, `<disk type="block" device="disk"><source dev="/dev/sda"/><target dev="vda"/></disk>`), "devices.disk[0].type", "block disks are not allowed"},
		{"block disk device", withDevices(t, `<disk type="block" device="disk"><source dev="/dev/sda"/><target dev="vda"/></disk>`), "devices.disk[0].source.dev", "outside"},
		{"network disk", withDevices(t, `<disk type="network"><source protocol="nbd" name="x"><host name="127.0.0.1" port="10809"/></source><target dev="vda"/></disk>`), "devices.disk[0].type", "network disks are not allowed"},
		{"dir disk", withDevices(t, `<disk type="dir" device="floppy"><source dir="/etc"/><target dev="fda"/></disk>`), "devices.disk[0].type", "directory"},
		{"volume disk", withDevices(t, `<disk type="volume"><source pool="default" volume="other.img"/><target dev="vda"/></disk>`), "devices.disk[0].type", "storage pool"},
		{"nvme disk", withDevices(t, `<disk type="nvme" device="disk"><source type="pci" managed="yes" namespace="1"><address domain="0" bus="1" slot="0" function="0"/></source><target dev="vda"/></disk>`), "devices.disk[0].type", "NVMe"},
		{"lun", withDevices(t, `<disk type="file" device="lun"><source file="`+vmiDir+`/d.img"/><target dev="sda" bus="scsi"/></disk>`), "devices.disk[0].device", "SCSI"},
		{"rawio", withDevices(t, `<disk type="file" device="disk" rawio="yes"><source file="`+vmiDir+`/d.img"/><target dev="vda"/></disk>`), "devices.disk[0].rawio", "CAP_SYS_RAWIO"},
		{"qcow2", withDevices(t, `<disk type="file"><driver name="qemu" type="qcow2"/><source file="`+vmiDir+`/d.qcow2"/><target dev="vda"/></disk>`), "devices.disk[0].driver.type", "qcow2"},
		{"backing store outside", withDevices(t, `<disk type="file"><source file="`+vmiDir+`/d.img"/><backingStore type="file"><format type="raw"/><source file="/etc/shadow"/></backingStore><target dev="vda"/></disk>`), "devices.disk[0].backingStore.source.file", "outside"},
		{"deep backing store", withDevices(t, `<disk type="file"><source file="`+vmiDir+`/d.img"/><backingStore type="file"><source file="`+imageRoot+`/b.img"/><backingStore type="file"><source file="/root/.ssh/id_rsa"/></backingStore></backingStore><target dev="vda"/></disk>`), "devices.disk[0].backingStore.backingStore.source.file", "outside"},
		{"disk seclabel", withDevices(t, `<disk type="file"><source file="`+vmiDir+`/d.img"><seclabel model="selinux" relabel="no"/></source><target dev="vda"/></disk>`), "devices.disk[0].source.seclabel[0]", "labelled"},
		{"disk encryption", withDevices(t, `<disk type="file"><source file="`+vmiDir+`/d.img"/><encryption format="luks"><secret type="passphrase" uuid="0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f"/></encryption><target dev="vda"/></disk>`), "devices.disk[0].encryption", "secrets"},
		{"persistent reservations", withDevices(t, `<disk type="file"><source file="`+vmiDir+`/d.img"><reservations managed="no"><source type="unix" path="/var/lib/libvirt/qemu/pr-helper.sock" mode="client"/></reservations></source><target dev="vda"/></disk>`), "devices.disk[0].source.reservations", "pr-helper"},
		{"mirror", withDevices(t, `<disk type="file"><source file="`+vmiDir+`/d.img"/><mirror type="file" file="/etc/x" format="raw" job="copy"><source file="/etc/x"/></mirror><target dev="vda"/></disk>`), "devices.disk[0].mirror", "second host file"},

		{"vhost-user disk", withDevices(t, `<disk type="vhostuser" device="disk"><driver name="qemu" type="raw"/><source type="unix" path="/tmp/vhost-blk.sock"><reconnect enabled="yes" timeout="10"/></source><target dev="vdb" bus="virtio"/></disk>`), "devices.disk[0].type", "host process"},
		{"nbd socket without a path", withDevices(t, `<disk type="network"><source protocol="nbd"><host transport="unix"/></source><target dev="vdc"/></disk>`), "devices.disk[0].source.host[0].socket", "Required"},
		{"nvram on a block device", replace(t, "<kernel>", `<nvram type="block"><source dev="/dev/sda1"/></nvram><kernel>`), "os.nvram.type", "block disks are not allowed"},
		{"varstore outside", replace(t, "<kernel>", `<varstore path="/etc/varstore.fd"/><kernel>`), "os.varstore.path", "outside"},

		// Emulator and hypervisor namespaces.
		{"emulator", withDevices(t, `<emulator>/tmp/my-qemu</emulator>`), "devices.emulator", "host binary"},
		{"qemu:commandline", withTop(t, `<qemu:commandline `+qemuNS+`><qemu:arg value="-chardev"/><qemu:arg value="file,id=x,path=/etc/shadow"/></qemu:commandline>`), "qemu:commandline", "arbitrary arguments"},
		{"qemu:capabilities", withTop(t, `<qemu:capabilities `+qemuNS+`><qemu:del capability="sandbox"/></qemu:capabilities>`), "qemu:capabilities", "capabilities"},
		{"qemu:override", withTop(t, `<qemu:override `+qemuNS+`><qemu:device alias="ua-x"><qemu:frontend><qemu:property name="x" type="string" value="y"/></qemu:frontend></qemu:device></qemu:override>`), "qemu:override", "behind libvirt"},

		// Security labels.
		{"seclabel none", withTop(t, `<seclabel type="none"/>`), "seclabel[0].type", "unconfined"},
		{"seclabel static", withTop(t, `<seclabel type="static" model="selinux" relabel="yes"><label>system_u:system_r:unconfined_t:s0</label></seclabel>`), "seclabel[0].type", "security context"},
		{"seclabel static label", withTop(t, `<seclabel type="static" model="dac"><label>+0:+0</label></seclabel>`), "seclabel[0].label", "security context"},
		{"seclabel model none", withTop(t, `<seclabel type="dynamic" model="none"/>`), "seclabel[0].model", "unconfined"},
		{"seclabel relabel no", withTop(t, `<seclabel type="dynamic" model="selinux" relabel="no"/>`), "seclabel[0].relabel", "unlabelled"},
		{"seclabel baselabel", withTop(t, `<seclabel type="dynamic" model="selinux"><baselabel>system_u:system_r:spc_t:s0</baselabel></seclabel>`), "seclabel[0].baselabel", "security context"},

		// Chardevs.
		{"serial dev", withDevices(t, `<serial type="dev"><source path="/dev/ttyS0"/><target port="1"/></serial>`), "devices.serial[1].type", "host character device"},
		{"serial pipe", withDevices(t, `<serial type="pipe"><source path="/tmp/p"/></serial>`), "devices.serial[1].type", "named pipe"},
		{"serial tcp", withDevices(t, `<serial type="tcp"><source mode="bind" host="0.0.0.0" service="2445"/><protocol type="raw"/></serial>`), "devices.serial[1].type", "network namespace"},
		{"serial tcp protocol", withDevices(t, `<serial type="tcp"><source mode="bind" host="0.0.0.0" service="2445"/><protocol type="telnet"/></serial>`), "devices.serial[1].protocol", "tcp"},
		{"serial udp", withDevices(t, `<serial type="udp"><source mode="connect" host="10.0.0.1" service="514"/></serial>`), "devices.serial[1].type", "network namespace"},
		{"serial unix outside", withDevices(t, `<serial type="unix"><source mode="connect" path="/run/containerd/containerd.sock"/></serial>`), "devices.serial[1].source.path", "outside"},
		{"serial file outside", withDevices(t, `<serial type="file"><source path="/etc/cron.d/owned"/></serial>`), "devices.serial[1].source.path", "outside"},
		{"serial file in the image cache", withDevices(t, `<serial type="file"><source path="`+imageRoot+`/boot/vmlinux"/></serial>`), "devices.serial[1].source.path", "writable"},
		{"serial pty path", withDevices(t, `<serial type="pty"><source path="/dev/pts/0"/></serial>`), "devices.serial[1].source.path", "host terminal"},
		{"serial log outside", withDevices(t, `<serial type="pty"><log file="/var/log/owned.log"/></serial>`), "devices.serial[1].log.file", "outside"},
		{"serial file without a path", withDevices(t, `<serial type="file"><target port="1"/></serial>`), "devices.serial[1].source.path", "Required"},
		{"serial log without a file", withDevices(t, `<serial type="pty"><log append="on"/></serial>`), "devices.serial[1].log.file", "Required"},
		{"serial stdio", withDevices(t, `<serial type="stdio"/>`), "devices.serial[1].type", "standard streams"},
		{"serial dbus", withDevices(t, `<serial type="dbus"><source channel="x"/></serial>`), "devices.serial[1].type", "D-Bus"},
		{"console spiceport", withDevices(t, `<console type="spiceport"><source channel="org.qemu.console.serial.0"/></console>`), "devices.console[1].type", "not on the node allowlist"},
		{"parallel dev", withDevices(t, `<parallel type="dev"><source path="/dev/parport0"/></parallel>`), "devices.parallel[0].type", "host character device"},
		{"channel unix outside", withDevices(t, `<channel type="unix"><source mode="bind" path="/var/run/docker.sock"/><target type="virtio" name="org.qemu.guest_agent.0"/></channel>`), "devices.channel[0].source.path", "outside"},
		{"channel spicevmc", withDevices(t, `<channel type="spicevmc"><target type="virtio" name="com.redhat.spice.0"/></channel>`), "devices.channel[0].type", "not on the node allowlist"},
		{"channel xen target", withDevices(t, `<channel type="pty"><target type="xen" name="org.qemu.guest_agent.0"/></channel>`), "devices.channel[0].target.type", "Unsupported value"},

		// Domain and OS.
		{"lxc domain", strings.Replace(tinyXML(t, imageRoot, vmiDir), `<domain type="qemu">`, `<domain type="lxc">`, 1), "type", "Unsupported value"},
		{"xen domain", strings.Replace(tinyXML(t, imageRoot, vmiDir), `<domain type="qemu">`, `<domain type="xen">`, 1), "type", "Unsupported value"},
		{"os init", replace(t, "<cmdline>", "<init>/bin/sh</init><cmdline>"), "os.init", "container-style"},
		{"os type exe", replace(t, ">hvm</type>", ">exe</type>"), "os.type", "Unsupported value"},
		{"host kernel", replace(t, imageRoot+"/boot/vmlinux", "/boot/vmlinuz"), "os.kernel", "outside"},
		{"kernel in another image", replace(t, imageRoot+"/boot/vmlinux", "/var/lib/podvirt/images/sha256-cd/rootfs/boot/vmlinux"), "os.kernel", "outside"},
		{"dtb outside", replace(t, "<cmdline>", "<dtb>/etc/shadow</dtb><cmdline>"), "os.dtb", "outside"},
		{"loader outside", replace(t, "<kernel>", `<loader readonly="yes" type="pflash">/etc/shadow</loader><kernel>`), "os.loader", "outside"},
		{"writable loader in the image cache", replace(t, "<kernel>", `<loader type="pflash">`+imageRoot+`/OVMF.fd</loader><kernel>`), "os.loader", "writable"},
		{"nvram outside", replace(t, "<kernel>", `<nvram>/etc/passwd</nvram><kernel>`), "os.nvram", "outside"},
		{"acpi table", replace(t, "<cmdline>", `<acpi><table type="slic">/etc/shadow</table></acpi><cmdline>`), "os.acpi.table[0]", "outside"},
		{"host smbios", replace(t, "<cmdline>", `<smbios mode="host"/><cmdline>`), "os.smbios.mode", "host's SMBIOS"},
		{"bootloader", withTop(t, `<bootloader>/usr/bin/pygrub</bootloader>`), "bootloader", "host program"},
		{"sysinfo fw_cfg file", withTop(t, `<sysinfo type="fwcfg"><entry name="opt/x" file="/etc/shadow"/></sysinfo>`), "sysinfo[0].entry[0].file", "outside"},
		{"smbios entry file", withTop(t, `<sysinfo type="smbios"><system><entry name="serial" file="/etc/machine-id"/></system></sysinfo>`), "sysinfo[0].system.entry[0].file", "outside"},
		{"lxc capabilities", replace(t, "<acpi></acpi>", `<acpi></acpi><capabilities policy="allow"><sys_admin state="on"/></capabilities>`), "features.capabilities", "LXC"},
		{"idmap", withTop(t, `<idmap><uid start="0" target="0" count="10"/></idmap>`), "idmap", "host ids"},
		{"perf", withTop(t, `<perf><event name="cmt" enabled="yes"/></perf>`), "perf", "performance counters"},
		{"launch security", withTop(t, `<launchSecurity type="sev"><policy>0x0003</policy></launchSecurity>`), "launchSecurity", "firmware"},
		{"core dumps with guest memory", replace(t, `<memory unit="KiB">`, `<memory unit="KiB" dumpCore="on">`), "memory.dumpCore", "core dump"},
		{"coredump on crash", replace(t, "<on_crash>destroy</on_crash>", "<on_crash>coredump-destroy</on_crash>"), "on_crash", "dump"},

		// Resources.
		{"file-backed memory", withTop(t, `<memoryBacking><source type="file"/></memoryBacking>`), "memoryBacking.source.type", "memory_backing_dir"},
		{"hugepages", withTop(t, `<memoryBacking><hugepages/></memoryBacking>`), "memoryBacking.hugepages", "host's pools"},
		{"locked memory", withTop(t, `<memoryBacking><locked/></memoryBacking>`), "memoryBacking.locked", "pins host memory"},
		{"resource partition", withTop(t, `<resource><partition>/machine</partition></resource>`), "resource.partition", "not an allowed cgroup partition"},
		{"realtime vcpus", withTop(t, `<cputune><vcpusched vcpus="0" scheduler="fifo" priority="99"/></cputune>`), "cputune.vcpusched[0]", "starve the host"},
		{"cachetune", withTop(t, `<cputune><cachetune vcpus="0"><cache id="0" level="3" type="both" size="3" unit="MiB"/></cachetune></cputune>`), "cputune.cachetune[0]", "resctrl"},
		{"blkiotune device", withTop(t, `<blkiotune><device><path>/dev/sda</path><weight>1000</weight></device></blkiotune>`), "blkiotune.device[0]", "host block devices"},

		// Graphics, video, rng, watchdog, controllers.
		{"vnc on all addresses", withDevices(t, `<graphics type="vnc" port="5900" listen="0.0.0.0"/>`), "devices.graphics[0].listen", "loopback"},
		{"vnc listen element", withDevices(t, `<graphics type="vnc" autoport="yes"><listen type="address" address="10.0.0.5"/></graphics>`), "devices.graphics[0].listen[0].address", "loopback"},
		{"vnc listen network", withDevices(t, `<graphics type="vnc" autoport="yes"><listen type="network" network="default"/></graphics>`), "devices.graphics[0].listen[0].type", "host network"},
		{"vnc socket outside", withDevices(t, `<graphics type="vnc" socket="/run/libvirt/owned.sock"/>`), "devices.graphics[0].socket", "outside"},
		{"spice", withDevices(t, `<graphics type="spice" autoport="yes"/>`), "devices.graphics[0].type", "only vnc"},
		{"sdl", withDevices(t, `<graphics type="sdl" display=":0"/>`), "devices.graphics[0].type", "host's display"},
		{"egl-headless", withDevices(t, `<graphics type="egl-headless"><gl rendernode="/dev/dri/renderD128"/></graphics>`), "devices.graphics[0].type", "GPU"},
		{"video 3d", withDevices(t, `<video><model type="virtio"><acceleration accel3d="yes"/></model></video>`), "devices.video[0].model.acceleration.accel3d", "GPU"},
		{"video render node", withDevices(t, `<video><model type="virtio"><acceleration rendernode="/dev/dri/renderD128"/></model></video>`), "devices.video[0].model.acceleration.rendernode", "GPU"},
		{"video vhost-user", withDevices(t, `<video><driver name="vhostuser"/><model type="virtio"/></video>`), "devices.video[0].driver.name", "host process"},
		{"rng egd", withDevices(t, `<rng model="virtio"><backend model="egd" type="tcp"><source mode="connect" host="1.2.3.4" service="1234"/></backend></rng>`), "devices.rng[0].backend.model", "host chardev"},
		{"rng hwrng", withDevices(t, `<rng model="virtio"><backend model="random">/dev/hwrng</backend></rng>`), "devices.rng[0].backend", "/dev/urandom"},
		{"rng random file", withDevices(t, `<rng model="virtio"><backend model="random">/etc/shadow</backend></rng>`), "devices.rng[0].backend", "/dev/urandom"},
		{"watchdog dump", withDevices(t, `<watchdog model="i6300esb" action="dump"/>`), "devices.watchdog[0].action", "dump directory"},
		{"interface null", withDevices(t, `<interface type="null"/>`), "devices.interface[0].type", "not on the node allowlist"},
		{"xen features", replace(t, "<acpi></acpi>", `<acpi></acpi><xen><passthrough state="on" mode="share_pt"/></xen>`), "features.xen", "Xen"},
		{"smbios bios entry file", withTop(t, `<sysinfo type="smbios"><bios><entry name="vendor" file="/etc/shadow"/></bios></sysinfo>`), "sysinfo[0].bios.entry[0].file", "outside"},
		{"rom file relative", withDevices(t, `<interface type="network"><source network="pods"/><rom file="efi-virtio.rom"/></interface>`), "devices.interface[0].rom.file", "absolute"},
		{"seclabel unknown type", withTop(t, `<seclabel type="other"/>`), "seclabel[0].type", "Unsupported value"},
		{"xenbus controller", withDevices(t, `<controller type="xenbus" index="0"/>`), "devices.controller[0].type", "Unsupported value"},
		{"ccid controller", withDevices(t, `<controller type="ccid" index="0"/>`), "devices.controller[0].type", "Unsupported value"},
	}
}

func TestHostileDomainsRefused(t *testing.T) {
	cases := hostileDomains(t)
	if len(cases) < 25 {
		t.Fatalf("only %d hostile domains", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dom := parse(t, tc.xml)
			errs := Check(dom, testOptions())
			if testing.Verbose() {
				t.Logf("\n%s", dump(errs))
			}
			if !hasError(errs, tc.path, tc.detail) {
				t.Fatalf("want %s: ...%s..., got:\n%s", tc.path, tc.detail, dump(errs))
			}
		})
	}
}

func hasError(errs field.ErrorList, path, detail string) bool {
	for _, e := range errs {
		if e.Field == path && strings.Contains(e.Error(), detail) {
			return true
		}
	}
	return false
}

func dump(errs field.ErrorList) string {
	if len(errs) == 0 {
		return "  (accepted)"
	}
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("  " + e.Error() + "\n")
	}
	return b.String()
}
