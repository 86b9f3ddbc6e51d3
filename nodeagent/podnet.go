package nodeagent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

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

// podNetLink names the links of one domain's pod network: a bridge and the
// host end of a veth in the host's namespace, the guest's tap on that
// bridge, and the veth's other end (podVeth) in the Pod's namespace.
type podNetLink struct {
	bridge, hostVeth, tap, podVeth string
}

// podNetLinks derives the link names of a domain (at most 15 bytes each).
func podNetLinks(domName string) podNetLink {
	sum := sha256.Sum256([]byte(domName))
	h := hex.EncodeToString(sum[:])[:10]
	return podNetLink{bridge: "pvb" + h, hostVeth: "pvh" + h, tap: TapPrefix + h, podVeth: "podvirt-guest"}
}

// connectPodNetwork plumbs the domain's network: the guest's tap joins a
// bridge whose veth leads into the launcher Pod's network namespace;
// there, traffic from the guest leaves masqueraded as the Pod's IP and
// traffic to the Pod's IP goes to the guest, so the guest is the Pod on
// the network (Services, NetworkPolicies). It is idempotent.
func (r *Reconciler) connectPodNetwork(ctx context.Context, p *corev1.Pod, domName string) error {
	ns, err := podNetns(p, r.cgroups())
	if err != nil {
		return err
	}
	l := podNetLinks(domName)
	host := [][]string{
		{"ip", "link", "add", l.bridge, "type", "bridge"},
		{"ip", "link", "set", l.bridge, "up"},
	}
	for _, c := range host {
		if err := runIgnoringExists(ctx, c...); err != nil {
			return err
		}
	}
	if _, err := net.InterfaceByName(l.hostVeth); err != nil {
		for _, c := range [][]string{
			{"ip", "link", "add", l.hostVeth, "type", "veth", "peer", "name", l.tap + "p"},
			{"ip", "link", "set", l.hostVeth, "master", l.bridge, "up"},
			{"ip", "link", "set", l.tap + "p", "netns", ns, "name", l.podVeth},
		} {
			if err := runIgnoringExists(ctx, c...); err != nil {
				return err
			}
		}
	}
	gw := fmt.Sprintf("%s/%d", GatewayAddress, maskBits())
	guest := GuestAddress.String()
	inPod := [][]string{
		{"ip", "addr", "add", gw, "dev", l.podVeth},
		{"ip", "link", "set", l.podVeth, "up"},
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
	}
	for _, c := range inPod {
		if err := runIgnoringExists(ctx, append([]string{"nsenter", "--net=" + ns}, c...)...); err != nil {
			return err
		}
	}
	// -C first: the rules are added once.
	for _, rule := range [][]string{
		{"POSTROUTING", "-s", guest, "-o", "eth0", "-j", "MASQUERADE"},
		{"PREROUTING", "-i", "eth0", "-p", "tcp", "-j", "DNAT", "--to-destination", guest},
		{"PREROUTING", "-i", "eth0", "-p", "udp", "-j", "DNAT", "--to-destination", guest},
	} {
		check := append([]string{"nsenter", "--net=" + ns, "iptables", "-t", "nat", "-C"}, rule...)
		if exec.CommandContext(ctx, check[0], check[1:]...).Run() == nil {
			continue
		}
		add := append([]string{"nsenter", "--net=" + ns, "iptables", "-t", "nat", "-A"}, rule...)
		if err := run(ctx, add...); err != nil {
			return err
		}
	}
	return r.DHCP.ensure(domName, ns, l.podVeth, podDNS(ns))
}

// keepPodNetwork restarts the DHCP server of a running domain on the Pod
// network (after a node agent restart).
func (r *Reconciler) keepPodNetwork(ctx context.Context, p *corev1.Pod, domName string) error {
	if r.DHCP == nil {
		return nil
	}
	if _, err := net.InterfaceByName(podNetLinks(domName).bridge); err != nil {
		return nil // not on the Pod network
	}
	return r.connectPodNetwork(ctx, p, domName)
}

// disconnectPodNetwork removes what connectPodNetwork made on the host;
// what it made in the Pod's namespace goes with the namespace.
func (r *Reconciler) disconnectPodNetwork(ctx context.Context, domName string) error {
	r.DHCP.stop(domName)
	l := podNetLinks(domName)
	for _, link := range []string{l.hostVeth, l.bridge} {
		if _, err := net.InterfaceByName(link); err != nil {
			continue
		}
		if err := run(ctx, "ip", "link", "del", link); err != nil {
			return err
		}
	}
	return nil
}

func maskBits() int { ones, _ := guestMask.Size(); return ones }

// cgroups is Options.Cgroups, or the kubelet's defaults when the agent
// leaves QEMU in libvirt's cgroup.
func (r *Reconciler) cgroups() *Cgroups {
	if r.Options.Cgroups != nil {
		return r.Options.Cgroups
	}
	return &Cgroups{Root: "/sys/fs/cgroup"}
}

// podNetns returns the network namespace (/proc/PID/ns/net) of a
// container of the Pod: a process in the Pod's cgroups whose namespace is
// not the host's (QEMU, moved into the Pod's cgroup, runs in the host's).
func podNetns(p *corev1.Pod, cg *Cgroups) (string, error) {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return "", err
	}
	for _, pid := range cg.podProcesses(p) {
		ns := fmt.Sprintf("/proc/%d/ns/net", pid)
		if target, err := os.Readlink(ns); err == nil && target != self {
			return ns, nil
		}
	}
	return "", fmt.Errorf("no process of Pod %s/%s in a network namespace of its own (looked under %s)", p.Namespace, p.Name, cg.Root)
}

// podDNS returns the name servers of the resolv.conf of the container
// whose network namespace is ns, for the guest's lease.
func podDNS(ns string) []net.IP {
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(ns)), "root", "etc", "resolv.conf"))
	if err != nil {
		return nil
	}
	var servers []net.IP
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "nameserver" {
			if ip := net.ParseIP(f[1]).To4(); ip != nil {
				servers = append(servers, ip)
			}
		}
	}
	return servers
}

func run(ctx context.Context, args ...string) error {
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
func runIgnoringExists(ctx context.Context, args ...string) error {
	err := run(ctx, args...)
	if err != nil && (strings.Contains(err.Error(), "File exists") || strings.Contains(err.Error(), "already exists") || strings.Contains(err.Error(), "already assigned")) {
		return nil
	}
	return err
}
