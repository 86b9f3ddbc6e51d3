package allowlist

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvirt/podvirt/domainspec"
)

// The serial console as the node agent localizes it, on disk: the socket
// QEMU binds through the agent's short link (socket dir/vmi -> the Pod's
// VMI directory), the log in the VMI directory. Accepted with the default
// resolver; the same domain with the link pointing elsewhere is refused.
func TestSerialConsoleSocketOnDisk(t *testing.T) {
	root := t.TempDir()
	img := filepath.Join(root, "images", "sha256-ab", "rootfs")
	vmi := filepath.Join(root, "kubelet", "pods", "p1", "volumes", "kubernetes.io~empty-dir", domainspec.StateVolume, domainspec.StateSubdir)
	sockets := filepath.Join(root, "state", "vmis", "u1")
	for _, d := range []string{filepath.Join(img, "boot"), vmi, sockets} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(sockets, domainspec.VMIDirLink)
	if err := os.Symlink(vmi, link); err != nil {
		t.Fatal(err)
	}
	x := tinyXMLWith(t, domainspec.NodeFacts{ImageRoot: img, VMIDir: vmi, SocketDir: sockets})
	socket := filepath.Join(link, domainspec.SerialSocketFile)
	if !strings.Contains(x, `path="`+socket+`"`) {
		t.Fatalf("the socket is not given through the link:\n%s", x)
	}
	opts := Options{AllowedDirs: []string{vmi, sockets}, ReadOnlyDirs: []string{img},
		ChardevSockets: []string{socket}, ChardevLogs: []string{filepath.Join(vmi, domainspec.SerialLogFile)}}
	if errs := Check(parse(t, x), opts); len(errs) != 0 {
		t.Fatalf("refused:\n%s", dump(errs))
	}

	// The link planted towards the host: the socket resolves outside.
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/run", link); err != nil {
		t.Fatal(err)
	}
	if errs := Check(parse(t, x), opts); !hasError(errs, "devices.serial[0].source.path", "symbolic link") {
		t.Fatalf("a socket through a link out of the VMI's directories was accepted:\n%s", dump(errs))
	}
}

// Only the serial console's own chardev is allowed: a socket QEMU binds
// at exactly the expected path, a log at exactly the serial log.
func TestSerialConsoleChardevRefusals(t *testing.T) {
	sock, logf := vmiDir+"/serial.sock", vmiDir+"/serial.log"
	serial := func(source, log string) string {
		return withDevices(t, `<serial type="unix">`+source+`<target port="1"/>`+log+`</serial>`)
	}
	bind := `<source mode="bind" path="` + sock + `"/>`
	for _, c := range []hostileCase{
		{"connect mode", serial(`<source mode="connect" path="`+sock+`"/>`, ""), "devices.serial[1].source.mode", "only bind"},
		{"no mode", serial(`<source path="`+sock+`"/>`, ""), "devices.serial[1].source.mode", "only bind"},
		{"reconnect", serial(`<source mode="bind" path="`+sock+`"><reconnect enabled="yes" timeout="1"/></source>`, ""), "devices.serial[1].source.reconnect", "reconnecting"},
		{"another socket in the VMI directory", serial(`<source mode="bind" path="`+vmiDir+`/other.sock"/>`, ""), "devices.serial[1].source.path", "may only be"},
		{"a socket outside", serial(`<source mode="bind" path="/run/libvirt/libvirt-sock"/>`, ""), "devices.serial[1].source.path", "outside"},
		{"no socket path", serial(`<source mode="bind"/>`, ""), "devices.serial[1].source.path", "Required"},
		{"another log in the VMI directory", serial(bind, `<log file="`+vmiDir+`/disk-root.img"/>`), "devices.serial[1].log.file", "may only be"},
		{"a log outside", serial(bind, `<log file="/etc/cron.d/x" append="on"/>`), "devices.serial[1].log.file", "outside"},
		{"a log on a pty", withDevices(t, `<serial type="pty"><target port="1"/><log file="`+vmiDir+`/pty.log"/></serial>`), "devices.serial[1].log.file", "may only be"},
		{"a channel connecting to the socket", withDevices(t, `<channel type="unix"><source mode="connect" path="`+sock+`"/><target type="virtio" name="x.0"/></channel>`), "devices.channel[0].source.mode", "only bind"},
		{"a console socket elsewhere", withDevices(t, `<console type="unix"><source mode="bind" path="`+vmiDir+`/c.sock"/><target type="virtio"/></console>`), "devices.console[1].source.path", "may only be"},
	} {
		if errs := Check(parse(t, c.xml), testOptions()); !hasError(errs, c.path, c.detail) {
			t.Errorf("%s: want %s refused (%q):\n%s", c.name, c.path, c.detail, dump(errs))
		}
	}
	// A second chardev on the allowed socket and log is accepted by the
	// allowlist (QEMU refuses to bind one path twice).
	if errs := Check(parse(t, serial(bind, `<log file="`+logf+`" append="on"/>`)), testOptions()); len(errs) != 0 {
		t.Errorf("the console chardev itself was refused:\n%s", dump(errs))
	}
	// Nodes that name no socket and no log refuse the console chardev.
	opts := testOptions()
	opts.ChardevSockets, opts.ChardevLogs = nil, nil
	errs := Check(parse(t, tinyXML(t, imageRoot, vmiDir)), opts)
	if !hasError(errs, "devices.serial[0].source.path", "may only be") || !hasError(errs, "devices.serial[0].log.file", "may only be") {
		t.Errorf("zero options accepted the console chardev:\n%s", dump(errs))
	}
}

// tinyXMLWith is the launcher's golden tiny domain localized with facts.
func tinyXMLWith(t testing.TB, facts domainspec.NodeFacts) string {
	t.Helper()
	raw, err := os.ReadFile("../../launcher/domain/testdata/tiny.xml")
	if err != nil {
		t.Fatal(err)
	}
	dom, err := domainspec.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := domainspec.Localize(dom, facts); err != nil {
		t.Fatal(err)
	}
	out, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
