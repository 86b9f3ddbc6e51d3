package framework

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
// and tap (pvb*, pvh*, pvt*) on the host; host iptables rules naming
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

// PodNetworkLinks are the names of the host links of a domain on the Pod
// network: bridge, host end of the veth, tap (and tap+"p", the veth's
// other end before it moves into the Pod), as the node agent names them.
func PodNetworkLinks(domName string) []string {
	l := podNetworkLinks(domName)
	return []string{l.Bridge, l.HostVeth, l.Tap}
}

func linkKind(prefix string) string {
	switch prefix[:3] {
	case "pvb":
		return "the guest's bridge"
	case "pvh":
		return "the host end of the veth into the Pod"
	}
	return "the guest's tap, or the veth's Pod end"
}

// qemuProcesses are the QEMU processes libvirt started for the domain
// (-name guest=<domain>,...) or with its UUID, the VMI's UID (-uuid).
func qemuProcesses(domName string, uid types.UID) []int {
	return qemuProcessesOf(func(name, uuid string) bool { return name == domName || uid != "" && uuid == string(uid) })
}

// qemuProcessesOf are the QEMU processes whose domain name and UUID match.
func qemuProcessesOf(match func(domName, uuid string) bool) []int {
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(d.Name(), "%d", &pid); err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || !processAlive(pid) {
			continue
		}
		args := bytes.Split(raw, []byte{0})
		name, uuid := "", ""
		for i, arg := range args {
			if n, ok := strings.CutPrefix(string(arg), "guest="); ok && name == "" {
				name, _, _ = strings.Cut(n, ",")
			}
			if string(arg) == "-uuid" && i+1 < len(args) {
				uuid = string(args[i+1])
			}
		}
		if (name != "" || uuid != "") && match(name, uuid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// iptablesRules are the host's iptables rules (iptables-save) that name
// any of words or ips.
func iptablesRules(ctx context.Context, words, ips []string) []string {
	out, err := exec.CommandContext(ctx, "iptables-save").Output()
	if err != nil {
		return []string{fmt.Sprintf("(cannot run iptables-save: %v)", err)}
	}
	var res []*regexp.Regexp
	for _, w := range words {
		res = append(res, regexp.MustCompile(regexp.QuoteMeta(w)))
	}
	for _, ip := range ips {
		res = append(res, regexp.MustCompile(`(^|[^0-9.])`+regexp.QuoteMeta(ip)+`($|[^0-9.])`))
	}
	var rules []string
	table := ""
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "*") {
			table = line[1:]
		}
		if !strings.HasPrefix(line, "-A ") {
			continue
		}
		for _, re := range res {
			if re.MatchString(line) {
				rules = append(rules, "-t "+table+" "+line)
				break
			}
		}
	}
	return rules
}

// listTree lists the files and directories under dir, relative to it; nil
// when dir does not exist.
func listTree(dir string) []string {
	if _, err := os.Lstat(dir); err != nil {
		return nil
	}
	files := []string{}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if path == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		if d != nil && d.IsDir() {
			rel += "/"
		}
		files = append(files, rel)
		return nil
	})
	return files
}

func summarize(files []string) string {
	if len(files) == 0 {
		return "nothing (an empty directory)"
	}
	if len(files) > 8 {
		return fmt.Sprintf("%s and %d more", strings.Join(files[:8], ", "), len(files)-8)
	}
	return strings.Join(files, ", ")
}

// libvirtFiles are libvirt's files of the domain: <domain>.pid, .xml and
// the like in the run directory, the EFI variable store
// nvram/<domain>_VARS.fd, and the private directories domain-<id>-<short
// name>, where the short name is the domain's first 20 bytes (libvirt's
// VIR_DOMAIN_SHORT_NAME_MAX): a truncated name is checked only when no
// other domain of that short name runs.
func libvirtFiles(domName string) []string {
	var found []string
	globs := []string{
		filepath.Join(LibvirtRunDir, globEscape(domName)+".*"),
		filepath.Join(LibvirtLibDir, "nvram", globEscape(domName)+"_VARS.fd"),
	}
	short := domName
	if len(short) > 20 {
		short = short[:20]
	}
	if short == domName || len(qemuProcessesOf(func(n, _ string) bool { return strings.HasPrefix(n, short) })) == 0 {
		for _, dir := range []string{LibvirtRunDir, LibvirtLibDir, filepath.Join(LibvirtLibDir, "channel", "target")} {
			globs = append(globs, filepath.Join(dir, "domain-[0-9]*-"+globEscape(short)))
		}
	}
	for _, g := range globs {
		m, _ := filepath.Glob(g)
		found = append(found, m...)
	}
	return found
}

var globSpecial = strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)

func globEscape(s string) string { return globSpecial.Replace(s) }

// hierarchies are the cgroup hierarchies: the root for cgroup v2, one
// directory per controller for v1.
func hierarchies() []string {
	if _, err := os.Stat(filepath.Join(CgroupRoot, "cgroup.controllers")); err == nil {
		return []string{CgroupRoot}
	}
	entries, _ := os.ReadDir(CgroupRoot)
	var hs []string
	for _, e := range entries {
		if e.IsDir() {
			hs = append(hs, filepath.Join(CgroupRoot, e.Name()))
		}
	}
	return hs
}

// podCgroups are the Pod's cgroups, in every hierarchy (the kubelet's
// cgroupfs layout: kubepods/[burstable|besteffort/]pod<uid>).
func podCgroups(uid types.UID) []string {
	var dirs []string
	for _, h := range hierarchies() {
		for _, qos := range []string{"", "burstable", "besteffort"} {
			dir := filepath.Join(h, "kubepods", qos, "pod"+string(uid))
			if _, err := os.Stat(dir); err == nil {
				dirs = append(dirs, dir)
			}
		}
	}
	return dirs
}

// podNetns is the inode of the network namespace of the Pod's containers
// (a process below the Pod's cgroup that is not in the host's namespace),
// 0 when none is found.
func podNetns(uid types.UID) uint64 {
	self := netnsInode("/proc/self/ns/net")
	for _, dir := range podCgroups(uid) {
		procs, _ := filepath.Glob(filepath.Join(dir, "*", "cgroup.procs"))
		for _, f := range procs {
			raw, _ := os.ReadFile(f)
			for _, pid := range strings.Fields(string(raw)) {
				if ino := netnsInode(filepath.Join("/proc", pid, "ns", "net")); ino != 0 && ino != self {
					return ino
				}
			}
		}
	}
	return 0
}

// netnsInUse are the inodes of the network namespaces of all processes.
func netnsInUse() map[uint64]bool {
	inUse := map[uint64]bool{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if ino := netnsInode(filepath.Join("/proc", d.Name(), "ns", "net")); ino != 0 {
			inUse[ino] = true
		}
	}
	return inUse
}

// netnsInode reads the inode of a namespace link (net:[4026531840]).
func netnsInode(link string) uint64 {
	target, err := os.Readlink(link)
	if err != nil {
		return 0
	}
	var ino uint64
	if _, err := fmt.Sscanf(target, "net:[%d]", &ino); err != nil {
		return 0
	}
	return ino
}

// hostnameChars are the characters libvirt keeps of a domain's name in
// its machine name (virDomainMachineNameAppendValid).
const hostnameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"

// libvirtCgroups are the cgroups libvirt made for the domain,
// machine/qemu-<id>-<machine name>.libvirt-qemu in every hierarchy.
func libvirtCgroups(domName string) []string {
	valid := strings.Map(func(r rune) rune {
		if strings.ContainsRune(hostnameChars, r) {
			return r
		}
		return -1
	}, domName)
	re := regexp.MustCompile(`^qemu-[0-9]+-(.+)\.libvirt-qemu$`)
	var dirs []string
	for _, h := range hierarchies() {
		for _, part := range []string{"machine", "machine.slice"} {
			entries, _ := os.ReadDir(filepath.Join(h, part))
			for _, en := range entries {
				m := re.FindStringSubmatch(en.Name())
				// libvirt cuts machine names at 64 bytes.
				if m != nil && en.IsDir() && (m[1] == valid || len(en.Name())-len(".libvirt-qemu") >= 64 && strings.HasPrefix(valid, m[1])) {
					dirs = append(dirs, filepath.Join(h, part, en.Name()))
				}
			}
		}
	}
	return dirs
}
