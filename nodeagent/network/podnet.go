package network

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// The guest's side of the masquerade network in the launcher Pod's network
// namespace, as KubeVirt's masquerade binding has it: the guest gets
// GuestAddress by DHCP, GatewayAddress is the Pod's end.
var (
	GuestAddress   = net.IPv4(10, 0, 2, 2)
	GatewayAddress = net.IPv4(10, 0, 2, 1)
	guestMask      = net.CIDRMask(24, 32)
)

// TapPrefix starts the host names of guest taps (allowlist.TargetDevPrefix).
const TapPrefix = "pvt"

// PodVeth is the name of the guest's veth end in the Pod's namespace
// (podvirt0 is the local CNI bridge's name).
const PodVeth = "podvirt-guest"

// Links names the links of one domain's pod network: a bridge and the host
// end of a veth in the host's namespace, the guest's tap on that bridge;
// the veth's other end is PodVeth in the Pod's namespace.
type Links struct {
	Bridge, HostVeth, Tap string
}

// LinksOf derives the link names of a domain (at most 15 bytes each).
func LinksOf(domName string) Links {
	sum := sha256.Sum256([]byte(domName))
	h := hex.EncodeToString(sum[:])[:10]
	return Links{Bridge: "pvb" + h, HostVeth: "pvh" + h, Tap: TapPrefix + h}
}

// NetnsFinder finds a launcher Pod's processes (cgroups.Cgroups does).
type NetnsFinder interface {
	PodProcesses(p *corev1.Pod) []int
}

// PodNetwork plumbs guests into their launcher Pods' networks: the guest's
// tap joins a bridge whose veth leads into the Pod's network namespace;
// there, traffic from the guest leaves masqueraded as the Pod's IP and
// traffic to the Pod's IP goes to the guest, so the guest is the Pod on the
// network (Services, NetworkPolicies). A DHCP server per domain answers
// the guest inside that namespace.
type PodNetwork struct {
	// Pods finds the processes of a launcher Pod, to enter its namespace.
	Pods NetnsFinder
	// Netns, when set, finds the Pod's network namespace instead of Pods
	// (tests).
	Netns func(p *corev1.Pod) (string, error)
	// Run runs a command in the network namespace at netns (the host's
	// when empty); exec inside InNetns when nil. Tests record commands.
	Run func(ctx context.Context, netns string, args ...string) error
	// Alias reads a host link's alias (/sys/class/net/NAME/ifalias when
	// nil). Tests fake it.
	Alias func(name string) string
	dhcp  DHCPServers
}

// Connect plumbs the domain's network. It is idempotent.
func (n *PodNetwork) Connect(ctx context.Context, p *corev1.Pod, domName string) error {
	ns, err := n.netns(p)
	if err != nil {
		return err
	}
	l := LinksOf(domName)
	// Link names are a hash of the domain name: a link of that name that
	// another domain made is a collision, refused, never joined. Each link
	// carries its domain's name as its alias.
	owner := aliasPrefix + domName
	if err := n.claim(ctx, l.Bridge, owner, []string{"ip", "link", "add", l.Bridge, "type", "bridge"}); err != nil {
		return err
	}
	// The bridge is in the host's namespace (QEMU, started by the host's
	// libvirtd, opens its tap there), so the host must not listen on it:
	// no IPv6 (no link-local address for the guest to reach host sockets
	// bound to ::), strict reverse-path filtering with no route through
	// the bridge (every IPv4 packet from the guest to the host stack is
	// dropped, whatever its source), no forwarding of what arrives on it,
	// no ARP answers. Frames bridged between the tap and the veth are not
	// routed, so the guest still reaches its Pod.
	for _, c := range [][]string{
		{"sysctl", "-qw", "net.ipv6.conf." + l.Bridge + ".disable_ipv6=1"},
		{"sysctl", "-qw", "net.ipv4.conf." + l.Bridge + ".rp_filter=1"},
		{"sysctl", "-qw", "net.ipv4.conf." + l.Bridge + ".forwarding=0"},
		{"sysctl", "-qw", "net.ipv4.conf." + l.Bridge + ".arp_ignore=8"},
		{"ip", "link", "set", l.Bridge, "up"},
	} {
		if err := n.run(ctx, "", c...); err != nil {
			return err
		}
	}
	if !n.linkExists(ctx, l.HostVeth) {
		for _, c := range [][]string{
			{"ip", "link", "add", l.HostVeth, "type", "veth", "peer", "name", l.Tap + "p"},
			{"ip", "link", "set", l.HostVeth, "alias", owner},
			{"sysctl", "-qw", "net.ipv6.conf." + l.HostVeth + ".disable_ipv6=1"},
			{"ip", "link", "set", l.HostVeth, "master", l.Bridge, "up"},
			{"ip", "link", "set", l.Tap + "p", "netns", ns, "name", PodVeth},
		} {
			if err := n.run(ctx, "", c...); err != nil {
				return err
			}
		}
	} else if got := n.alias(l.HostVeth); got != owner {
		return fmt.Errorf("link %s exists and belongs to %q, not %s: names collide", l.HostVeth, got, domName)
	}
	ones, _ := guestMask.Size()
	for _, c := range [][]string{
		{"ip", "addr", "add", fmt.Sprintf("%s/%d", GatewayAddress, ones), "dev", PodVeth},
		{"ip", "link", "set", PodVeth, "up"},
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
	} {
		if err := n.runIgnoringExists(ctx, ns, c...); err != nil {
			return err
		}
	}
	guest := GuestAddress.String()
	// -C first: the rules are added once.
	for _, rule := range [][]string{
		{"POSTROUTING", "-s", guest, "-o", "eth0", "-j", "MASQUERADE"},
		{"PREROUTING", "-i", "eth0", "-p", "tcp", "-j", "DNAT", "--to-destination", guest},
		{"PREROUTING", "-i", "eth0", "-p", "udp", "-j", "DNAT", "--to-destination", guest},
	} {
		if n.run(ctx, ns, append([]string{"iptables", "-t", "nat", "-C"}, rule...)...) == nil {
			continue
		}
		if err := n.run(ctx, ns, append([]string{"iptables", "-t", "nat", "-A"}, rule...)...); err != nil {
			return err
		}
	}
	return n.dhcp.ensure(domName, ns, PodVeth, podDNS(ns))
}

// Keep restarts the DHCP server of a running domain on the Pod network
// (after a node agent restart); a domain not on the Pod network is left
// alone.
func (n *PodNetwork) Keep(ctx context.Context, p *corev1.Pod, domName string) error {
	if !n.linkExists(ctx, LinksOf(domName).Bridge) {
		return nil
	}
	return n.Connect(ctx, p, domName)
}

// Disconnect removes what Connect made on the host; what it made in the
// Pod's namespace goes with the namespace.
func (n *PodNetwork) Disconnect(ctx context.Context, domName string) error {
	n.dhcp.stop(domName)
	l := LinksOf(domName)
	for _, link := range []string{l.HostVeth, l.Bridge} {
		if !n.linkExists(ctx, link) || n.alias(link) != aliasPrefix+domName {
			continue // absent, or another domain's: never removed for this one
		}
		if err := n.run(ctx, "", "ip", "link", "del", link); err != nil {
			return err
		}
	}
	return nil
}

// aliasPrefix starts the alias of every link podvirt makes on the host.
const aliasPrefix = "podvirt:"

// claim makes a link with add and gives it owner as its alias, or finds
// it made already for owner; a link of that name made for anything else is
// an error.
func (n *PodNetwork) claim(ctx context.Context, name, owner string, add []string) error {
	if n.linkExists(ctx, name) {
		if got := n.alias(name); got != owner {
			return fmt.Errorf("link %s exists and belongs to %q, not %s: names collide", name, got, strings.TrimPrefix(owner, aliasPrefix))
		}
		return nil
	}
	if err := n.run(ctx, "", add...); err != nil {
		return err
	}
	return n.run(ctx, "", "ip", "link", "set", name, "alias", owner)
}

func (n *PodNetwork) alias(name string) string {
	if n.Alias != nil {
		return n.Alias(name)
	}
	b, err := os.ReadFile(filepath.Join("/sys/class/net", name, "ifalias"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (n *PodNetwork) linkExists(ctx context.Context, name string) bool {
	if n.Run != nil {
		return n.Run(ctx, "", "ip", "link", "show", name) == nil
	}
	_, err := net.InterfaceByName(name)
	return err == nil
}

// netns returns the network namespace (/proc/PID/ns/net) of a container
// of the Pod: a process in the Pod's cgroups whose namespace is not the
// host's (QEMU, moved into the Pod's cgroup, runs in the host's).
func (n *PodNetwork) netns(p *corev1.Pod) (string, error) {
	if n.Netns != nil {
		return n.Netns(p)
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return "", err
	}
	for _, pid := range n.Pods.PodProcesses(p) {
		ns := fmt.Sprintf("/proc/%d/ns/net", pid)
		if target, err := os.Readlink(ns); err == nil && target != self {
			return ns, nil
		}
	}
	return "", fmt.Errorf("no process of Pod %s/%s in a network namespace of its own", p.Namespace, p.Name)
}

// podDNS returns the name servers of the resolv.conf of the container
// whose network namespace is ns (/proc/PID/ns/net), for the guest's lease.
// The container's image is the user's, so the file is opened inside the
// container's root: a symlink there resolves there, never on the host.
func podDNS(ns string) []net.IP {
	raw, err := readInRoot(filepath.Join(filepath.Dir(filepath.Dir(ns)), "root"), "etc/resolv.conf", 64<<10)
	if err != nil {
		return nil
	}
	return nameservers(string(raw))
}

// readInRoot reads at most max bytes of the file at rel, resolved as if
// root were "/" (openat2 RESOLVE_IN_ROOT: "..", absolute symlinks and
// magic links cannot leave root; the kubelet's bind mount of resolv.conf
// may be crossed), and only a regular file.
func readInRoot(root, rel string, max int64) ([]byte, error) {
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(dir)
	fd, err := unix.Openat2(dir, rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: filepath.Join(root, rel), Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(root, rel))
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", f.Name())
	}
	return io.ReadAll(io.LimitReader(f, max))
}

// nameservers are the IPv4 name servers of a resolv.conf.
func nameservers(resolvConf string) []net.IP {
	var servers []net.IP
	for _, line := range strings.Split(resolvConf, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "nameserver" {
			if ip := net.ParseIP(f[1]).To4(); ip != nil {
				servers = append(servers, ip)
			}
		}
	}
	return servers
}

func (n *PodNetwork) run(ctx context.Context, netns string, args ...string) error {
	if n.Run != nil {
		return n.Run(ctx, netns, args...)
	}
	if netns == "" {
		return execCommand(ctx, args...)
	}
	return InNetns(netns, func() error { return execCommand(ctx, args...) })
}

// execCommand runs a command; on a thread InNetns switched, the child
// starts in that namespace (as CNI plugins run theirs).
func execCommand(ctx context.Context, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// runIgnoringExists is run for commands that fail when what they create
// exists already.
func (n *PodNetwork) runIgnoringExists(ctx context.Context, netns string, args ...string) error {
	err := n.run(ctx, netns, args...)
	if err != nil && (strings.Contains(err.Error(), "File exists") || strings.Contains(err.Error(), "already exists") || strings.Contains(err.Error(), "already assigned")) {
		return nil
	}
	return err
}
