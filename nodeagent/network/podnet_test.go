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
// line, "[netns] " first when not the host's; links maps the links that
// exist, as "netns/name" ("/name" on the host), to their aliases.
type recorder struct {
	cmds  []string
	links map[string]string
}

const podNs = "/nonexistent/ns/net"

func (r *recorder) record(netns, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if netns != "" {
		line = "[" + netns + "] " + line
	}
	r.cmds = append(r.cmds, line)
}

func (r *recorder) alias(netns, name string) (string, bool, error) {
	a, ok := r.links[netns+"/"+name]
	return a, ok, nil
}

func (r *recorder) addTap(netns, name, alias string) error {
	if _, ok := r.links[netns+"/"+name]; ok {
		return fmt.Errorf("adding %s: %w", name, unix.EEXIST)
	}
	if r.links == nil {
		r.links = map[string]string{}
	}
	r.links[netns+"/"+name] = alias
	r.record(netns, "add tap %s alias %s", name, alias)
	return nil
}

func (r *recorder) moveLink(netns, name, to string) error {
	r.links[to+"/"+name] = r.links[netns+"/"+name]
	delete(r.links, netns+"/"+name)
	r.record(netns, "move %s to %s", name, to)
	return nil
}

func (r *recorder) setUp(netns, name string) error {
	r.record(netns, "set %s up", name)
	return nil
}

func (r *recorder) delLink(netns, name string) error {
	delete(r.links, netns+"/"+name)
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

func (r *recorder) setRules(netns string, guest net.IP, podIface, tap string) error {
	r.record(netns, "rules %s via %s on %s", guest, podIface, tap)
	return nil
}

func inPod(*corev1.Pod) (string, error) { return podNs, nil }

func TestLinkNames(t *testing.T) {
	a, b := HostLinkNames("a-namespace-with-a-long-name_and-a-long-vmi-name"), HostLinkNames("ns_b")
	for _, names := range [][]string{a, b} {
		for _, name := range names {
			if len(name) > 15 {
				t.Errorf("link name %q is longer than IFNAMSIZ-1", name)
			}
		}
	}
	if !strings.HasPrefix(a[0], TapPrefix) || a[0] != TapOf("a-namespace-with-a-long-name_and-a-long-vmi-name") {
		t.Errorf("tap %q lacks %q or is not first", a[0], TapPrefix)
	}
	for i := range a {
		if a[i] == b[i] {
			t.Errorf("two domains share link %s", a[i])
		}
	}
	if TapOf("ns_b") != b[0] {
		t.Error("link names are not deterministic")
	}
}

// Prepare makes the tap on the host, closed to the host's stack; after
// QEMU starts, Connect moves it into the Pod, where it becomes the
// guest's gateway.
func TestPrepareThenConnect(t *testing.T) {
	rec := &recorder{}
	n := &PodNetwork{ops: rec, Netns: inPod}
	if err := n.Prepare(context.Background(), &corev1.Pod{}, "ns_a"); err != nil {
		t.Fatal(err)
	}
	tap := TapOf("ns_a")
	want := []string{
		"add tap " + tap + " alias podvirt:ns_a",
		"sysctl net/ipv6/conf/" + tap + "/disable_ipv6=1",
		"sysctl net/ipv4/conf/" + tap + "/rp_filter=1",
		"sysctl net/ipv4/conf/" + tap + "/forwarding=0",
		"sysctl net/ipv4/conf/" + tap + "/arp_ignore=8",
	}
	if strings.Join(rec.cmds, "\n") != strings.Join(want, "\n") {
		t.Errorf("Prepare:\n%s\nwant:\n%s", strings.Join(rec.cmds, "\n"), strings.Join(want, "\n"))
	}
	rec.cmds = nil
	err := n.Connect(context.Background(), &corev1.Pod{}, "ns_a")
	// The DHCP server cannot enter a namespace that does not exist: the
	// plumbing before it is what this test checks.
	if err == nil || !strings.Contains(err.Error(), "DHCP") {
		t.Fatalf("Connect = %v, want the DHCP server to fail in a missing namespace", err)
	}
	want = []string{
		"move " + tap + " to " + podNs,
		"[" + podNs + "] sysctl net/ipv6/conf/" + tap + "/disable_ipv6=1",
		"[" + podNs + "] sysctl net/ipv4/conf/" + tap + "/route_localnet=1",
		"[" + podNs + "] sysctl net/ipv4/ip_forward=1",
		"[" + podNs + "] addr 10.0.2.1/24 dev " + tap,
		"[" + podNs + "] set " + tap + " up",
		"[" + podNs + "] rules 10.0.2.2 via eth0 on " + tap,
	}
	if strings.Join(rec.cmds, "\n") != strings.Join(want, "\n") {
		t.Errorf("Connect:\n%s\nwant:\n%s", strings.Join(rec.cmds, "\n"), strings.Join(want, "\n"))
	}
	if _, onHost, _ := rec.alias("", tap); onHost {
		t.Error("the tap is still on the host after Connect")
	}
}

// A tap of an earlier run of the domain, left in the Pod, is removed
// before a new one is made on the host (the move would collide).
func TestPrepareRemovesAnEarlierTapInThePod(t *testing.T) {
	tap := TapOf("ns_a")
	rec := &recorder{links: map[string]string{podNs + "/" + tap: "podvirt:ns_a"}}
	n := &PodNetwork{ops: rec, Netns: inPod}
	if err := n.Prepare(context.Background(), &corev1.Pod{}, "ns_a"); err != nil {
		t.Fatal(err)
	}
	if len(rec.cmds) < 2 || rec.cmds[0] != "["+podNs+"] del "+tap || !strings.HasPrefix(rec.cmds[1], "add tap "+tap) {
		t.Errorf("commands %v, want the Pod's old tap removed, then a new one made", rec.cmds)
	}
}

func TestNetnsErrorStopsBeforeAnyCommand(t *testing.T) {
	rec := &recorder{}
	n := &PodNetwork{ops: rec, Netns: func(*corev1.Pod) (string, error) { return "", errors.New("no process") }}
	if err := n.Prepare(context.Background(), &corev1.Pod{}, "ns_a"); err == nil {
		t.Fatal("Prepare without a namespace succeeded")
	}
	if err := n.Connect(context.Background(), &corev1.Pod{}, "ns_a"); err == nil {
		t.Fatal("Connect without a namespace succeeded")
	}
	if len(rec.cmds) != 0 {
		t.Errorf("commands ran without the Pod's namespace: %v", rec.cmds)
	}
}

func TestDisconnectRemovesOnlyWhatExists(t *testing.T) {
	names := HostLinkNames("ns_a")
	rec := &recorder{links: map[string]string{"/" + names[0]: "podvirt:ns_a", "/" + names[2]: "podvirt:ns_a"}}
	n := &PodNetwork{ops: rec}
	if err := n.Disconnect(context.Background(), "ns_a"); err != nil {
		t.Fatal(err)
	}
	if want := "del " + names[0] + "\ndel " + names[2]; strings.Join(rec.cmds, "\n") != want {
		t.Errorf("commands %v, want only %q", rec.cmds, want)
	}
}

// Link names are a hash: a link of the same name made for another domain
// is refused, never used, and never removed for this one; on the host or
// in the Pod.
func TestLinkNameCollisionIsRefused(t *testing.T) {
	tap := TapOf("ns_a")
	for _, where := range []string{"", podNs} {
		rec := &recorder{links: map[string]string{where + "/" + tap: "podvirt:ns_other"}}
		n := &PodNetwork{ops: rec, Netns: inPod}
		if err := n.Prepare(context.Background(), &corev1.Pod{}, "ns_a"); err == nil || !strings.Contains(err.Error(), "collide") {
			t.Errorf("a tap of another domain in %q: Prepare = %v, want a collision", where, err)
		}
		if err := n.Connect(context.Background(), &corev1.Pod{}, "ns_a"); err == nil || !strings.Contains(err.Error(), "collide") {
			t.Errorf("a tap of another domain in %q: Connect = %v, want a collision", where, err)
		}
		if err := n.Keep(context.Background(), &corev1.Pod{}, "ns_a"); err != nil {
			t.Errorf("Keep with another domain's tap in %q = %v, want it left alone", where, err)
		}
		if err := n.Disconnect(context.Background(), "ns_a"); err != nil {
			t.Fatal(err)
		}
		if len(rec.cmds) != 0 {
			t.Errorf("another domain's tap in %q was touched: %v", where, rec.cmds)
		}
	}
}

func TestKeepLeavesDomainsOffThePodNetwork(t *testing.T) {
	rec := &recorder{}
	n := &PodNetwork{ops: rec, Netns: inPod}
	if err := n.Keep(context.Background(), &corev1.Pod{}, "ns_a"); err != nil || len(rec.cmds) != 0 {
		t.Errorf("Keep of a domain without a tap = %v, commands %v", err, rec.cmds)
	}
}

// After a node agent restart, Keep finds the tap in the Pod and connects
// it again (the DHCP server is the agent's, and went with it).
func TestKeepReconnectsATapInThePod(t *testing.T) {
	tap := TapOf("ns_a")
	rec := &recorder{links: map[string]string{podNs + "/" + tap: "podvirt:ns_a"}}
	n := &PodNetwork{ops: rec, Netns: inPod}
	if err := n.Keep(context.Background(), &corev1.Pod{}, "ns_a"); err == nil || !strings.Contains(err.Error(), "DHCP") {
		t.Fatalf("Keep = %v, want it to reach the DHCP server", err)
	}
	for _, c := range rec.cmds {
		if strings.HasPrefix(c, "move") {
			t.Errorf("a tap already in the Pod was moved: %s", c)
		}
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
