package framework

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// Where libvirt (the node's system libvirtd) and the kubelet keep what a
// domain or a Pod has on the host.
var (
	// LibvirtRunDir holds a running domain's pid file and live XML.
	LibvirtRunDir = "/var/run/libvirt/qemu"
	// LibvirtLibDir holds a domain's private directory (domain-<id>-<short name>)
	// and, in nvram/, an EFI domain's variable store.
	LibvirtLibDir = "/var/lib/libvirt/qemu"
	// CgroupRoot is where the cgroup hierarchies are mounted.
	CgroupRoot = "/sys/fs/cgroup"
)

// Footprint is what the leak checker knows of one VMI: its names, and
// what Track saw of its launcher Pods while they lived (their UIDs name
// their cgroups and kubelet directories, their IPs may appear in
// iptables rules, and the network namespace of a Pod on the Pod network
// is where the node agent serves the guest DHCP).
type Footprint struct {
	Namespace, Name string
	// Domain is the libvirt domain's name, <namespace>_<name>.
	Domain string

	mu           sync.Mutex
	vmiUID       types.UID
	onPodNetwork bool
	pods         map[types.UID]*podFootprint
	stop         context.CancelFunc
	done         chan struct{}
}

type podFootprint struct {
	name string
	ip   string
	// netns is the inode of the Pod's network namespace while it lived
	// (inodes are reused after a namespace dies: compare only while the
	// Pod runs); dhcp is the node agent's DHCP socket in it, if any.
	netns uint64
	dhcp  *dhcpSocket
}

// Track starts following the VMI ns/name: until ExpectNoLeaks (or the
// end of the test) it records what the leak checker needs of its
// launcher Pods. Call it when the VMI is created, before it can end.
func (e *Env) Track(t testing.TB, ns, name string) *Footprint {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	fp := &Footprint{Namespace: ns, Name: name, Domain: domainspec.Name(ns, name),
		pods: map[types.UID]*podFootprint{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(fp.done)
		_ = Poll(ctx, 200*time.Millisecond, time.Hour, func(ctx context.Context) (bool, error) {
			e.observe(ctx, fp)
			return false, nil
		})
	}()
	t.Cleanup(fp.halt)
	return fp
}

func (fp *Footprint) halt() {
	fp.stop()
	<-fp.done
}

// AssumeUID makes the checker look for the files of a VMI of this UID
// (for a VMI that never existed: the checker's own test).
func (fp *Footprint) AssumeUID(uid types.UID) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.vmiUID = uid
}

// observe records what the VMI's launcher Pods show now.
func (e *Env) observe(ctx context.Context, fp *Footprint) {
	vmi := &v1alpha1.VirtualMachineInstance{}
	onPodNetwork := false
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: fp.Namespace, Name: fp.Name}, vmi); err == nil {
		onPodNetwork = len(vmi.Spec.Domain.Devices.Interfaces) > 0
		fp.mu.Lock()
		fp.vmiUID = vmi.UID
		fp.onPodNetwork = fp.onPodNetwork || onPodNetwork
		fp.mu.Unlock()
	}
	pods, err := e.launcherPods(ctx, fp.Namespace, fp.Name)
	if err != nil {
		return
	}
	for i := range pods {
		p := &pods[i]
		fp.mu.Lock()
		pf := fp.pods[p.UID]
		if pf == nil {
			pf = &podFootprint{name: p.Name}
			fp.pods[p.UID] = pf
		}
		if p.Status.PodIP != "" {
			pf.ip = p.Status.PodIP
		}
		needNetns := pf.netns == 0
		needDHCP := onPodNetwork && pf.dhcp == nil
		netns := pf.netns
		fp.mu.Unlock()
		// Read from the Pod's live processes, whatever its phase: an
		// inode read now names the namespace that lives now.
		if needNetns {
			netns = podNetns(p.UID)
		}
		var dhcp *dhcpSocket
		if needDHCP && netns != 0 {
			if pid, err := e.DaemonPID("podvirt-nodeagent"); err == nil {
				socks, _ := dhcpSockets(pid)
				for j := range socks {
					if socks[j].netnsInode == netns && podNetns(p.UID) == netns {
						dhcp = &socks[j]
					}
				}
			}
		}
		fp.mu.Lock()
		if needNetns && netns != 0 {
			pf.netns = netns
		}
		if dhcp != nil {
			pf.dhcp = dhcp
		}
		fp.mu.Unlock()
	}
}

// launcherPods lists the Pods labeled for the VMI, the controller's and
// any other.
func (e *Env) launcherPods(ctx context.Context, ns, name string) ([]corev1.Pod, error) {
	list := &corev1.PodList{}
	if err := e.Client.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{domainspec.LabelVMI: name}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

func objectMeta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name}
}

// LeakTimeout bounds how long ExpectNoLeaks lets the node agent, libvirt
// and the kubelet finish cleaning up after the last launcher Pod is gone.
const LeakTimeout = 60 * time.Second

// ExpectNoLeaks waits until the VMI's launcher Pods are gone, then until
// nothing of the VMI is left on the node, and fails the test with the
// list of what is still there after LeakTimeout. It checks: the libvirt
// domain; QEMU processes of the domain; the pod network's bridge, veth
// and tap (pvb*, pvh*, pvt*) on the host (the tap belongs in the Pod); host iptables rules naming
// those links or the Pods' IPs; the node agent's DHCP server in a Pod's
// network namespace (a socket that keeps the namespace, its veth and its
// iptables rules alive); the node agent's directory for the VMI, libvirt's
// files of the domain (pid file, live XML, private directory, EFI
// variable store) and the kubelet's directory of each Pod; the Pods'
// cgroups and libvirt's cgroups of the domain.
func (e *Env) ExpectNoLeaks(t testing.TB, fp *Footprint) {
	t.Helper()
	e.WaitForLauncherPodsGone(t, fp.Namespace, fp.Name, 3*time.Minute)
	fp.halt()
	start := time.Now()
	var leaks []string
	err := Poll(context.Background(), time.Second, LeakTimeout, func(ctx context.Context) (bool, error) {
		leaks = e.Leaks(ctx, fp)
		return len(leaks) == 0, nil
	})
	if err != nil {
		t.Errorf("VMI %s/%s left %d thing(s) on the node %s after its launcher Pods were gone:\n  - %s",
			fp.Namespace, fp.Name, len(leaks), LeakTimeout, strings.Join(leaks, "\n  - "))
		return
	}
	fp.mu.Lock()
	n := len(fp.pods)
	for _, p := range fp.pods {
		// Say which checks had nothing to go on.
		if p.netns == 0 {
			t.Logf("note: Track never saw a process of Pod %s: its DHCP server was looked for only as an orphan", p.name)
		} else if fp.onPodNetwork && p.dhcp == nil {
			t.Logf("note: Track saw no DHCP server for Pod %s on the Pod network: it was looked for only as an orphan", p.name)
		}
	}
	fp.mu.Unlock()
	t.Logf("nothing of VMI %s/%s left on the node (%d launcher Pod(s) tracked; clean %s after they were gone)",
		fp.Namespace, fp.Name, n, time.Since(start).Round(time.Millisecond))
}

// Leaks looks once for what the VMI left on the node and describes each
// thing found; see ExpectNoLeaks.
func (e *Env) Leaks(ctx context.Context, fp *Footprint) []string {
	fp.mu.Lock()
	vmiUID := fp.vmiUID
	pods := make(map[types.UID]podFootprint, len(fp.pods))
	for uid, p := range fp.pods {
		pods[uid] = *p
	}
	fp.mu.Unlock()
	var leaks []string
	add := func(format string, args ...any) { leaks = append(leaks, fmt.Sprintf(format, args...)) }
	dom := fp.Domain

	// libvirt and QEMU.
	if state, err := e.DomainState(dom); err != nil {
		add("libvirt domain %s: cannot read its state: %v", dom, err)
	} else if state != StateAbsent {
		add("libvirt domain %s is still defined (%s)", dom, state)
	}
	for _, pid := range qemuProcesses(dom, vmiUID) {
		add("QEMU process %d of domain %s (uuid %s) still runs", pid, dom, vmiUID)
	}

	// The pod network's links on the host (nodeagent/podnet.go names them).
	links := PodNetworkLinks(dom)
	ifaces, err := net.Interfaces()
	if err != nil {
		add("cannot list the host's links: %v", err)
	}
	for _, ifc := range ifaces {
		for _, l := range links {
			if strings.HasPrefix(ifc.Name, l) {
				add("host link %s (%s) is left", ifc.Name, linkKind(l))
			}
		}
	}

	// Host iptables rules naming the links or the Pods' IPs.
	var ips []string
	for _, p := range pods {
		if p.ip != "" {
			ips = append(ips, p.ip)
		}
	}
	for _, rule := range iptablesRules(ctx, links, ips) {
		add("host iptables rule is left: %s", rule)
	}

	// The node agent's DHCP server in a Pod's network namespace: the
	// namespace's cookie never repeats, so a socket with it is that one.
	if pid, err := e.DaemonPID("podvirt-nodeagent"); err == nil {
		socks, err := dhcpSockets(pid)
		if err != nil {
			add("cannot inspect the node agent's sockets: %v", err)
		}
		inUse := netnsInUse()
		for _, s := range socks {
			owner := ""
			for _, p := range pods {
				if p.dhcp != nil && s.netnsCookie == p.dhcp.netnsCookie {
					owner = "Pod " + p.name
				}
			}
			// A namespace no process is in, kept by the node agent's
			// socket: some Pod's, gone (which one, the socket cannot say).
			if owner == "" && !inUse[s.netnsInode] {
				owner = "a Pod that is gone (whose, unknown)"
			}
			if owner != "" {
				add("the node agent (pid %d) still serves DHCP for %s: fd %d (socket:[%d], UDP :67 on %q) keeps its network namespace alive%s",
					pid, owner, s.fd, s.inode, s.iface, s.describeNetns(ctx))
			}
		}
	}

	// Files.
	if vmiUID != "" {
		if files := listTree(e.VMIDir(vmiUID)); files != nil {
			add("the node agent's directory %s is left, holding %s", e.VMIDir(vmiUID), summarize(files))
		}
	}
	for _, f := range libvirtFiles(dom) {
		add("libvirt's %s is left", f)
	}
	for uid, p := range pods {
		dir := filepath.Join(e.State, "kubelet", "root", "pods", string(uid))
		if files := listTree(dir); files != nil {
			add("the kubelet's directory of Pod %s (%s) is left, holding %s", p.name, dir, summarize(files))
		}
	}

	// cgroups.
	for uid, p := range pods {
		for _, dir := range podCgroups(uid) {
			add("cgroup %s of Pod %s is left", dir, p.name)
		}
	}
	for _, dir := range libvirtCgroups(dom) {
		add("libvirt's cgroup %s of domain %s is left", dir, dom)
	}
	sort.Strings(leaks)
	return leaks
}

func linkKind(prefix string) string {
	switch prefix[:3] {
	case "pvb":
		return "the guest's bridge"
	case "pvh":
		return "the host end of the veth into the Pod"
	}
	return "the guest's tap, which belongs in the Pod's network namespace"
}
