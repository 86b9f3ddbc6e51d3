package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
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
// the guest inside that namespace. It execs nothing (see kernel).
type PodNetwork struct {
	// Pods finds the processes of a launcher Pod, to enter its namespace.
	Pods NetnsFinder
	// Netns, when set, finds the Pod's network namespace instead of Pods
	// (tests).
	Netns func(p *corev1.Pod) (string, error)
	// ops does the plumbing; kernel when nil. Unit tests fake it.
	ops  plumber
	dhcp DHCPServers
}

// podIface is the Pod's own interface, made by the CNI plugin.
const podIface = "eth0"

// Connect plumbs the domain's network. It is idempotent.
func (n *PodNetwork) Connect(ctx context.Context, p *corev1.Pod, domName string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ns, err := n.netns(p)
	if err != nil {
		return err
	}
	k := n.kernel()
	l := LinksOf(domName)
	// Link names are a hash of the domain name: a link of that name that
	// another domain made is a collision, refused, never joined. Each link
	// carries its domain's name as its alias.
	owner := aliasPrefix + domName
	if err := n.claim(l.Bridge, owner, func() error { return k.addBridge("", l.Bridge, owner) }); err != nil {
		return err
	}
	// The bridge is in the host's namespace (QEMU, started by the host's
	// libvirtd, opens its tap there), so the host must not listen on it:
	// no IPv6 (no link-local address for the guest to reach host sockets
	// bound to ::), strict reverse-path filtering with no route through
	// the bridge (every IPv4 packet from the guest to the host stack is
	// dropped, whatever its source), no forwarding of what arrives on it,
	// no ARP answers. Frames bridged between the tap and the veth are not
	// routed, so the guest still reaches its Pod. Set before the link is
	// up, so it never has an IPv6 address.
	for _, s := range []struct{ key, value string }{
		{"net/ipv6/conf/" + l.Bridge + "/disable_ipv6", "1"},
		{"net/ipv4/conf/" + l.Bridge + "/rp_filter", "1"},
		{"net/ipv4/conf/" + l.Bridge + "/forwarding", "0"},
		{"net/ipv4/conf/" + l.Bridge + "/arp_ignore", "8"},
	} {
		if err := k.sysctl("", s.key, s.value); err != nil {
			return err
		}
	}
	if err := k.setUp("", l.Bridge); err != nil {
		return err
	}
	// The veth's Pod end is made in the Pod's namespace as PodVeth. The
	// rest is redone on every Connect, so one cut short is finished by
	// the next.
	if err := n.claim(l.HostVeth, owner, func() error { return k.addVeth("", l.HostVeth, owner, ns, PodVeth) }); err != nil {
		return err
	}
	if err := k.sysctl("", "net/ipv6/conf/"+l.HostVeth+"/disable_ipv6", "1"); err != nil {
		return err
	}
	if err := k.setMaster("", l.HostVeth, l.Bridge); err != nil {
		return err
	}
	if err := k.setUp("", l.HostVeth); err != nil {
		return err
	}
	if err := k.addAddr(ns, PodVeth, &net.IPNet{IP: GatewayAddress.To4(), Mask: guestMask}); err != nil {
		return err
	}
	if err := k.setUp(ns, PodVeth); err != nil {
		return err
	}
	if err := k.sysctl(ns, "net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	if err := k.setNAT(ns, GuestAddress, podIface); err != nil {
		return err
	}
	return n.dhcp.ensure(domName, ns, PodVeth, podDNS(ns))
}

// Keep restarts the DHCP server of a running domain on the Pod network
// (after a node agent restart); a domain not on the Pod network is left
// alone.
func (n *PodNetwork) Keep(ctx context.Context, p *corev1.Pod, domName string) error {
	_, ok, err := n.kernel().alias("", LinksOf(domName).Bridge)
	if err != nil || !ok {
		return err
	}
	return n.Connect(ctx, p, domName)
}

// Disconnect removes what Connect made on the host (the veth's Pod end
// goes with its host end); what it made in the Pod's namespace goes with
// the namespace.
func (n *PodNetwork) Disconnect(ctx context.Context, domName string) error {
	n.dhcp.stop(domName)
	k := n.kernel()
	l := LinksOf(domName)
	for _, link := range []string{l.HostVeth, l.Bridge} {
		got, ok, err := k.alias("", link)
		if err != nil {
			return err
		}
		if !ok || got != aliasPrefix+domName {
			continue // absent, or another domain's: never removed for this one
		}
		if err := k.delLink("", link); err != nil {
			return err
		}
	}
	return nil
}

// aliasPrefix starts the alias of every link podvirt makes on the host.
const aliasPrefix = "podvirt:"

// claim makes the link name with add, which gives it owner as its alias,
// or finds it made already for owner; a link of that name made for
// anything else is an error.
func (n *PodNetwork) claim(name, owner string, add func() error) error {
	err := add()
	if err == nil || !errors.Is(err, unix.EEXIST) {
		return err
	}
	got, ok, aerr := n.kernel().alias("", name)
	if aerr != nil {
		return aerr
	}
	if !ok {
		return err // the name taken is another (a veth's peer)
	}
	if got != owner {
		return fmt.Errorf("link %s exists and belongs to %q, not %s: names collide", name, got, strings.TrimPrefix(owner, aliasPrefix))
	}
	return nil
}

func (n *PodNetwork) kernel() plumber {
	if n.ops != nil {
		return n.ops
	}
	return kernel{}
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
