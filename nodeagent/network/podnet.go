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

// TapPrefix starts the names of guest taps (allowlist.TargetDevPrefix).
const TapPrefix = "pvt"

// TapOf names the tap of a domain (at most 15 bytes): a hash of the
// domain's name, so names never collide by length or character.
func TapOf(domName string) string {
	return TapPrefix + linkHash(domName)
}

func linkHash(domName string) string {
	sum := sha256.Sum256([]byte(domName))
	return hex.EncodeToString(sum[:])[:10]
}

// legacyLinks are the bridge and host veth that node agents before the
// tap moved into the Pod made for a domain, removed by Disconnect.
func legacyLinks(domName string) []string {
	h := linkHash(domName)
	return []string{"pvh" + h, "pvb" + h}
}

// HostLinkNames are the names of every link a node agent, this one or an
// earlier one, may make on the host for the domain (leak checks): its tap
// before it moves into the Pod, and the bridge and veth of before.
func HostLinkNames(domName string) []string {
	return append([]string{TapOf(domName)}, legacyLinks(domName)...)
}

// NetnsFinder finds a launcher Pod's processes (cgroups.Cgroups does).
type NetnsFinder interface {
	PodProcesses(p *corev1.Pod) []int
}

// PodNetwork puts guests on their launcher Pods' networks, with nothing
// of the guest's left in the host's network namespace. The guest's tap
// is made in the host's namespace, where the host's libvirtd opens it
// for QEMU (Prepare); once QEMU holds it, the tap moves into the Pod's
// namespace (Connect): a tap keeps carrying frames across the move, and
// is deleted with the namespace. There the tap is the gateway of the
// guest's /24: what the guest sends with its own address leaves
// masqueraded as the Pod's IP, TCP and UDP to the Pod's IP go to the
// guest, and 127.0.0.1 in the Pod (kubectl port-forward) reaches the
// guest, so the guest is the Pod on the network (Services,
// NetworkPolicies). Anything else from the guest (other source
// addresses, the Pod's own sockets, link-local addresses, IPv6) is
// dropped. A DHCP server per domain answers the guest inside that
// namespace. It execs nothing (see kernel).
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

// Prepare makes the domain's tap in the host's namespace for libvirt to
// start QEMU on (<target dev=TAP managed='no'/>). The host must not
// listen on it while it is there: no IPv6, strict reverse-path filtering
// with no route through it, no forwarding, no ARP answers; and it stays
// down. A tap of an earlier run of the domain in the Pod's namespace is
// removed first, as it would take the name there. It is idempotent.
func (n *PodNetwork) Prepare(ctx context.Context, p *corev1.Pod, domName string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ns, err := n.netns(p)
	if err != nil {
		return err
	}
	k := n.kernel()
	tap, owner := TapOf(domName), aliasPrefix+domName
	if got, ok, err := k.alias(ns, tap); err != nil {
		return err
	} else if ok {
		if got != owner {
			return collision(tap, got, domName)
		}
		if err := k.delLink(ns, tap); err != nil {
			return err
		}
	}
	// Tap names are a hash of the domain name: a link of that name that
	// another domain made is a collision, refused, never joined. Each tap
	// carries its domain's name as its alias.
	if err := n.claim(tap, owner, func() error { return k.addTap("", tap, owner) }); err != nil {
		return err
	}
	for _, s := range []struct{ key, value string }{
		{"net/ipv6/conf/" + tap + "/disable_ipv6", "1"},
		{"net/ipv4/conf/" + tap + "/rp_filter", "1"},
		{"net/ipv4/conf/" + tap + "/forwarding", "0"},
		{"net/ipv4/conf/" + tap + "/arp_ignore", "8"},
	} {
		if err := k.sysctl("", s.key, s.value); err != nil {
			return err
		}
	}
	return nil
}

// Connect moves the domain's tap, which QEMU holds now, into the Pod's
// namespace, and makes it the guest's gateway there (address, rules,
// DHCP). It is idempotent: what is already done is done again, so one cut
// short is finished by the next.
func (n *PodNetwork) Connect(ctx context.Context, p *corev1.Pod, domName string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ns, err := n.netns(p)
	if err != nil {
		return err
	}
	k := n.kernel()
	tap, owner := TapOf(domName), aliasPrefix+domName
	if got, ok, err := k.alias("", tap); err != nil {
		return err
	} else if ok {
		if got != owner {
			return collision(tap, got, domName)
		}
		if err := k.moveLink("", tap, ns); err != nil {
			return err
		}
	}
	got, ok, err := k.alias(ns, tap)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the guest's tap %s is neither on the host nor in the Pod's namespace", tap)
	}
	if got != owner {
		return collision(tap, got, domName)
	}
	// A moved link comes down, with the namespace's default settings:
	// no IPv6 before it is up (no link-local address for the guest to
	// reach), and 127.0.0.1 may be routed out of it once DNATed to the
	// guest (kubectl port-forward dials 127.0.0.1 in the Pod).
	for _, s := range []struct{ key, value string }{
		{"net/ipv6/conf/" + tap + "/disable_ipv6", "1"},
		{"net/ipv4/conf/" + tap + "/route_localnet", "1"},
		{"net/ipv4/ip_forward", "1"},
	} {
		if err := k.sysctl(ns, s.key, s.value); err != nil {
			return err
		}
	}
	if err := k.addAddr(ns, tap, &net.IPNet{IP: GatewayAddress.To4(), Mask: guestMask}); err != nil {
		return err
	}
	if err := k.setUp(ns, tap); err != nil {
		return err
	}
	if err := k.setRules(ns, GuestAddress, podIface, tap); err != nil {
		return err
	}
	return n.dhcp.ensure(domName, ns, tap, podDNS(ns))
}

// Keep connects a running domain's tap (after a node agent restart, or a
// start whose Connect was cut short); a domain with no tap of its own, on
// the host or in the Pod, is not on the Pod network and is left alone.
func (n *PodNetwork) Keep(ctx context.Context, p *corev1.Pod, domName string) error {
	k := n.kernel()
	tap, owner := TapOf(domName), aliasPrefix+domName
	if got, ok, err := k.alias("", tap); err != nil || (ok && got != owner) {
		return err
	} else if !ok {
		ns, err := n.netns(p)
		if err != nil {
			// No container of the Pod runs: there is no namespace to
			// keep anything in (and a domain off the Pod network has
			// none to look for).
			return nil
		}
		if got, ok, err := k.alias(ns, tap); err != nil || !ok || got != owner {
			return err
		}
	}
	return n.Connect(ctx, p, domName)
}

// Disconnect stops the domain's DHCP server and removes what is left of
// it on the host: its tap, if the domain ended before the tap moved, and
// the bridge and veth of older node agents. Its tap in the Pod's
// namespace goes with the namespace.
func (n *PodNetwork) Disconnect(ctx context.Context, domName string) error {
	n.dhcp.stop(domName)
	k := n.kernel()
	for _, link := range HostLinkNames(domName) {
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

func collision(link, owner, domName string) error {
	return fmt.Errorf("link %s exists and belongs to %q, not %s: names collide", link, owner, domName)
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
		return err // the name is taken in a way alias cannot see
	}
	if got != owner {
		return collision(name, got, strings.TrimPrefix(owner, aliasPrefix))
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
