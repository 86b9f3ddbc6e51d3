package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// recorder stands in for the kernel (plumber): it records each call as a
// line, "[netns] " first when not the host's; links named in up exist
// on the host, with the aliases in aliases.
type recorder struct {
	cmds    []string
	up      map[string]bool
	aliases map[string]string
}

func (r *recorder) record(netns, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if netns != "" {
		line = "[" + netns + "] " + line
	}
	r.cmds = append(r.cmds, line)
}

// add makes a host link unless one of that name exists.
func (r *recorder) add(name, alias string) error {
	if r.up[name] {
		return fmt.Errorf("adding %s: %w", name, unix.EEXIST)
	}
	if r.up == nil {
		r.up, r.aliases = map[string]bool{}, map[string]string{}
	}
	r.up[name], r.aliases[name] = true, alias
	return nil
}

func (r *recorder) alias(netns, name string) (string, bool, error) {
	return r.aliases[name], r.up[name], nil
}

func (r *recorder) addBridge(netns, name, alias string) error {
	if err := r.add(name, alias); err != nil {
		return err
	}
	r.record(netns, "add bridge %s alias %s", name, alias)
	return nil
}

func (r *recorder) addVeth(netns, name, alias, peerNetns, peer string) error {
	if err := r.add(name, alias); err != nil {
		return err
	}
	r.record(netns, "add veth %s alias %s peer %s in %s", name, alias, peer, peerNetns)
	return nil
}

func (r *recorder) setMaster(netns, name, master string) error {
	r.record(netns, "set %s master %s", name, master)
	return nil
}

func (r *recorder) setUp(netns, name string) error {
	r.record(netns, "set %s up", name)
	return nil
}

func (r *recorder) delLink(netns, name string) error {
	r.record(netns, "del %s", name)
	return nil
}

func (r *recorder) addAddr(netns, name string, addr *net.IPNet) error {
	r.record(netns, "addr %s dev %s", addr, name)
	return nil
}

func (r *recorder) sysctl(netns, key, value string) error {
	r.record(netns, "sysctl %s=%s", key, value)
	return nil
}

func (r *recorder) setNAT(netns string, guest net.IP, podIface string) error {
	r.record(netns, "nat %s via %s", guest, podIface)
	return nil
}

func TestLinksOf(t *testing.T) {
	a, b := LinksOf("a-namespace-with-a-long-name_and-a-long-vmi-name"), LinksOf("ns_b")
	for _, l := range []Links{a, b} {
		for _, name := range []string{l.Bridge, l.HostVeth, l.Tap, l.Tap + "p", PodVeth} {
			if len(name) > 15 {
				t.Errorf("link name %q is longer than IFNAMSIZ-1", name)
			}
		}
		if !strings.HasPrefix(l.Tap, TapPrefix) {
			t.Errorf("tap %q lacks %q", l.Tap, TapPrefix)
		}
	}
	if a == b || a.Bridge == b.Bridge || a.Tap == b.Tap {
		t.Errorf("two domains share links: %+v %+v", a, b)
	}
	if LinksOf("a-namespace-with-a-long-name_and-a-long-vmi-name") != a {
		t.Error("link names are not deterministic")
	}
}

func TestConnectPlumbsThenStartsDHCP(t *testing.T) {
	rec := &recorder{}
	n := &PodNetwork{ops: rec, Netns: func(*corev1.Pod) (string, error) { return "/nonexistent/ns/net", nil }}
	err := n.Connect(context.Background(), &corev1.Pod{}, "ns_a")
	// The DHCP server cannot enter a namespace that does not exist: the
	// plumbing before it is what this test checks.
	if err == nil || !strings.Contains(err.Error(), "DHCP") {
		t.Fatalf("Connect = %v, want the DHCP server to fail in a missing namespace", err)
	}
	l := LinksOf("ns_a")
	want := []string{
		"add bridge " + l.Bridge + " alias podvirt:ns_a",
		"sysctl net/ipv6/conf/" + l.Bridge + "/disable_ipv6=1",
		"sysctl net/ipv4/conf/" + l.Bridge + "/rp_filter=1",
		"sysctl net/ipv4/conf/" + l.Bridge + "/forwarding=0",
		"sysctl net/ipv4/conf/" + l.Bridge + "/arp_ignore=8",
		"set " + l.Bridge + " up",
		"add veth " + l.HostVeth + " alias podvirt:ns_a peer " + PodVeth + " in /nonexistent/ns/net",
		"sysctl net/ipv6/conf/" + l.HostVeth + "/disable_ipv6=1",
		"set " + l.HostVeth + " master " + l.Bridge,
		"set " + l.HostVeth + " up",
		"[/nonexistent/ns/net] addr 10.0.2.1/24 dev " + PodVeth,
		"[/nonexistent/ns/net] set " + PodVeth + " up",
		"[/nonexistent/ns/net] sysctl net/ipv4/ip_forward=1",
		"[/nonexistent/ns/net] nat 10.0.2.2 via eth0",
	}
	if strings.Join(rec.cmds, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(rec.cmds, "\n"), strings.Join(want, "\n"))
	}
}

func TestConnectKeepsAnExistingVeth(t *testing.T) {
	l := LinksOf("ns_a")
	rec := &recorder{up: map[string]bool{l.HostVeth: true}, aliases: map[string]string{l.HostVeth: "podvirt:ns_a"}}
	n := &PodNetwork{ops: rec, Netns: func(*corev1.Pod) (string, error) { return "/nonexistent/ns/net", nil }}
	_ = n.Connect(context.Background(), &corev1.Pod{}, "ns_a")
	for _, c := range rec.cmds {
		if strings.Contains(c, "add veth") {
			t.Errorf("an existing veth was made again: %s", c)
		}
	}
}

func TestNetnsErrorStopsBeforeAnyCommand(t *testing.T) {
	rec := &recorder{}
	n := &PodNetwork{ops: rec, Netns: func(*corev1.Pod) (string, error) { return "", errors.New("no process") }}
	if err := n.Connect(context.Background(), &corev1.Pod{}, "ns_a"); err == nil {
		t.Fatal("Connect without a namespace succeeded")
	}
	if len(rec.cmds) != 0 {
		t.Errorf("commands ran without the Pod's namespace: %v", rec.cmds)
	}
}

func TestDisconnectRemovesOnlyWhatExists(t *testing.T) {
	l := LinksOf("ns_a")
	rec := &recorder{up: map[string]bool{l.Bridge: true}, aliases: map[string]string{l.Bridge: "podvirt:ns_a"}}
	n := &PodNetwork{ops: rec}
	if err := n.Disconnect(context.Background(), "ns_a"); err != nil {
		t.Fatal(err)
	}
	if want := "del " + l.Bridge; strings.Join(rec.cmds, "\n") != want {
		t.Errorf("commands %v, want only %q", rec.cmds, want)
	}
}

// Link names are a hash: a link of the same name made for another domain
// is refused, never joined, and never removed for this one.
func TestLinkNameCollisionIsRefused(t *testing.T) {
	l := LinksOf("ns_a")
	for _, link := range []string{l.Bridge, l.HostVeth} {
		rec := &recorder{up: map[string]bool{l.Bridge: true, link: true},
			aliases: map[string]string{l.Bridge: "podvirt:ns_a", link: "podvirt:ns_other"}}
		n := &PodNetwork{ops: rec, Netns: func(*corev1.Pod) (string, error) { return "/nonexistent/ns/net", nil }}
		err := n.Connect(context.Background(), &corev1.Pod{}, "ns_a")
		if err == nil || !strings.Contains(err.Error(), "collide") {
			t.Errorf("%s of another domain: Connect = %v, want a collision", link, err)
		}
		for _, c := range rec.cmds {
			if strings.Contains(c, "master") || strings.Contains(c, "[") {
				t.Errorf("%s: joined another domain's link: %s", link, c)
			}
		}
		rec.cmds = nil
		if err := n.Disconnect(context.Background(), "ns_a"); err != nil {
			t.Fatal(err)
		}
		for _, c := range rec.cmds {
			if strings.Contains(c, "del "+link) {
				t.Errorf("removed another domain's %s", link)
			}
		}
	}
}

func TestKeepLeavesDomainsOffThePodNetwork(t *testing.T) {
	rec := &recorder{}
	n := &PodNetwork{ops: rec, Netns: func(*corev1.Pod) (string, error) { t.Fatal("looked for a namespace"); return "", nil }}
	if err := n.Keep(context.Background(), &corev1.Pod{}, "ns_a"); err != nil || len(rec.cmds) != 0 {
		t.Errorf("Keep of a domain without a bridge = %v, commands %v", err, rec.cmds)
	}
}

func TestNameservers(t *testing.T) {
	got := nameservers("# comment\nsearch svc.cluster.local\nnameserver 10.96.0.10\nnameserver fd00::10\nnameserver  1.1.1.1 \noptions ndots:5\nnameserver\n")
	want := []net.IP{net.IPv4(10, 96, 0, 10).To4(), net.IPv4(1, 1, 1, 1).To4()}
	if len(got) != len(want) {
		t.Fatalf("nameservers = %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("nameserver %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// A container image is its user's: a resolv.conf that is a symlink to a
// host file is read inside the container's root, never on the host.
func TestReadInRootStaysInRoot(t *testing.T) {
	root := t.TempDir()
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "secret"), []byte("nameserver 6.6.6.6\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	for name, target := range map[string]string{
		"absolute symlink": filepath.Join(host, "secret"),
		"dot-dot symlink":  "../../../../../../../../" + strings.TrimPrefix(filepath.Join(host, "secret"), "/"),
	} {
		link := filepath.Join(root, "etc", "resolv.conf")
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if b, err := readInRoot(root, "etc/resolv.conf", 1<<10); err == nil && strings.Contains(string(b), "6.6.6.6") {
			t.Errorf("%s: read the host's file through the container's symlink", name)
		}
	}
	_ = os.Remove(filepath.Join(root, "etc", "resolv.conf"))
	_ = os.WriteFile(filepath.Join(root, "etc", "resolv.conf"), []byte("nameserver 10.96.0.10\n"), 0o644)
	if b, err := readInRoot(root, "etc/resolv.conf", 1<<10); err != nil || !strings.Contains(string(b), "10.96.0.10") {
		t.Errorf("the container's own resolv.conf: %q, %v", b, err)
	}
}
