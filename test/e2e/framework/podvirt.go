package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// podvirt itself runs in the cluster (deploy/local through test/local/up.sh):
// a StatefulSet of controllers and a DaemonSet of node agents in
// PodvirtNamespace. These helpers find, kill, stop and wait for those Pods
// and their processes on this node.
const (
	PodvirtNamespace = "podvirt-system"
	ControllerName   = "podvirt-controller"
	NodeAgentName    = "podvirt-nodeagent"
	// ControllerReplicas is deploy/base's replica count.
	ControllerReplicas = 2
	// WebhookClusterIP is the podvirt-webhook Service's address, pinned by
	// deploy/local (test/local/lib.sh, PODVIRT_WEBHOOK_CLUSTER_IP).
	WebhookClusterIP = "10.96.0.11"
	// stoppedSelector parks the node agent DaemonSet on no node.
	stoppedSelector = "podvirt.io/e2e-no-such-node"
	// NodeLeaseDuration is the node agent's heartbeat Lease duration in
	// deploy/local (--lease-duration): a node whose agent stopped goes
	// Unknown about this long after.
	NodeLeaseDuration = 15 * time.Second
	// UnknownTimeout is the controller's --node-unknown-timeout in
	// deploy/local: how long an Unknown VMI waits before it may fail.
	UnknownTimeout = 20 * time.Second
)

// ProcessPIDs lists the live processes of the kubelet's Pods on this
// machine (in a kubepods cgroup) whose executable is named name
// (podvirt-controller, podvirt-nodeagent, podvirt-launcher). A process of
// that name outside the Pods (a developer's run beside the cluster) is
// not the cluster's: HostProcessPIDs lists those too.
func ProcessPIDs(name string) []int {
	var pids []int
	for _, pid := range HostProcessPIDs(name) {
		if strings.Contains(ProcessCgroup(pid), "/kubepods") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// HostProcessPIDs lists the live processes on this machine whose
// executable is named name, in or out of containers.
func HostProcessPIDs(name string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", d.Name(), "exe"))
		if err != nil || filepath.Base(strings.TrimSuffix(exe, " (deleted)")) != name || !processAlive(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids
}

// ProcessExe is the executable of pid as seen from this machine's root
// ("" when it cannot be read).
func ProcessExe(pid int) string {
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return strings.TrimSuffix(exe, " (deleted)")
}

// DaemonPID is the pid of the one process named name on this node
// (podvirt-nodeagent); an error when there is none or more than one.
func (e *Env) DaemonPID(name string) (int, error) {
	pids := ProcessPIDs(name)
	if len(pids) != 1 {
		return 0, fmt.Errorf("%d processes named %s run on this node (%v), want 1", len(pids), name, pids)
	}
	return pids[0], nil
}

// processAlive is false for a process that is gone or a zombie.
func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(stat), ") Z ")
}

// KillProcess sends SIGKILL to pid and waits until it is gone: what a
// crash, the OOM killer or `kill -9` does. The kubelet then restarts the
// container.
func KillProcess(t testing.TB, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Errorf("kill -9 %d: %v", pid, err)
	}
	// PID 1 here may reap late: a zombie counts as gone.
	if err := Poll(context.Background(), 50*time.Millisecond, 5*time.Second, func(context.Context) (bool, error) {
		return !processAlive(pid), nil
	}); err != nil {
		t.Logf("pid %d still alive 5s after SIGKILL", pid)
	}
}

// KillNodeAgent kills the node agent's process with SIGKILL; the kubelet
// restarts its container. WaitPodvirtReady waits for it.
func (e *Env) KillNodeAgent(t testing.TB) {
	t.Helper()
	pid, err := e.DaemonPID(NodeAgentName)
	if err != nil {
		t.Fatal(err)
	}
	KillProcess(t, pid)
}

// StopNodeAgent takes the node agent off every node as an operator would
// (a nodeSelector on its DaemonSet that no node matches) and waits until
// its process is gone; StartNodeAgent brings it back. Guests keep running.
// The test's cleanup starts it again if the test did not.
func (e *Env) StopNodeAgent(t testing.TB) {
	t.Helper()
	e.patchNodeAgentSelector(t, `{"spec":{"template":{"spec":{"nodeSelector":{"`+stoppedSelector+`":"true"}}}}}`)
	t.Cleanup(func() {
		if len(ProcessPIDs(NodeAgentName)) == 0 {
			e.StartNodeAgent(t)
		}
	})
	Eventually(t, "the node agent's process gone", 90*time.Second, func() (bool, error) {
		return len(ProcessPIDs(NodeAgentName)) == 0, nil
	})
}

// StartNodeAgent undoes StopNodeAgent and waits until podvirt is ready;
// it returns how long that took.
func (e *Env) StartNodeAgent(t testing.TB) time.Duration {
	t.Helper()
	start := time.Now()
	e.patchNodeAgentSelector(t, `{"spec":{"template":{"spec":{"nodeSelector":null}}}}`)
	e.WaitPodvirtReady(t)
	return time.Since(start)
}

func (e *Env) patchNodeAgentSelector(t testing.TB, patch string) {
	t.Helper()
	ds := &appsv1.DaemonSet{}
	ds.Namespace, ds.Name = PodvirtNamespace, NodeAgentName
	if err := e.Client.Patch(context.Background(), ds, client.RawPatch(types.StrategicMergePatchType, []byte(patch))); err != nil {
		t.Fatalf("patching the node agent DaemonSet: %v", err)
	}
}

// WaitPodvirtReady waits until every controller replica and the node
// agent are Ready, each with its process running on this node, and
// returns how long that took.
func (e *Env) WaitPodvirtReady(t testing.TB) time.Duration {
	t.Helper()
	start := time.Now()
	Eventually(t, "podvirt's Pods Ready", 180*time.Second, func() (bool, error) {
		pods := &corev1.PodList{}
		if err := e.Client.List(context.Background(), pods, client.InNamespace(PodvirtNamespace)); err != nil {
			return false, err
		}
		ready := map[string]int{}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp == nil && PodReady(p) {
				ready[p.Labels["app.kubernetes.io/name"]]++
			}
		}
		return ready[ControllerName] == ControllerReplicas && ready[NodeAgentName] == 1 &&
			len(ProcessPIDs(ControllerName)) == ControllerReplicas && len(ProcessPIDs(NodeAgentName)) == 1, nil
	})
	return time.Since(start)
}

// PodReady is the Pod's Ready condition.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ControllerLeader is the name of the controller Pod holding the leader
// Lease.
func (e *Env) ControllerLeader(t testing.TB) string {
	t.Helper()
	out, err := e.Kubectl("", "-n", PodvirtNamespace, "get", "lease", ControllerName, "-o", "jsonpath={.spec.holderIdentity}")
	if err != nil {
		t.Fatalf("reading the leader lease: %v\n%s", err, out)
	}
	// controller-runtime's identity is <hostname>_<uuid>; the hostname is
	// the Pod's name.
	name, _, _ := strings.Cut(strings.TrimSpace(out), "_")
	if name == "" {
		t.Fatalf("no controller holds the leader lease")
	}
	return name
}

// AuditDirs are the host directories of the controller replicas' audit
// volumes (their PersistentVolumes from the local-path provisioner), by
// replica Pod name.
func (e *Env) AuditDirs(t testing.TB) map[string]string {
	t.Helper()
	dirs := map[string]string{}
	for i := range ControllerReplicas {
		replica := fmt.Sprintf("%s-%d", ControllerName, i)
		pvc := &corev1.PersistentVolumeClaim{}
		if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: PodvirtNamespace, Name: "audit-" + replica}, pvc); err != nil {
			t.Fatalf("the audit volume claim of %s: %v", replica, err)
		}
		pv := &corev1.PersistentVolume{}
		if err := e.Client.Get(context.Background(), types.NamespacedName{Name: pvc.Spec.VolumeName}, pv); err != nil {
			t.Fatalf("the audit volume of %s: %v", replica, err)
		}
		switch {
		case pv.Spec.HostPath != nil:
			dirs[replica] = pv.Spec.HostPath.Path
		case pv.Spec.Local != nil:
			dirs[replica] = pv.Spec.Local.Path
		default:
			t.Fatalf("the audit volume %s of %s is neither hostPath nor local", pv.Name, replica)
		}
	}
	return dirs
}

// AuditDir is one directory holding every replica's audit files (hard
// links to the files in AuditDirs, made now: the audit reader takes
// regular files only), for readers that take one directory.
func (e *Env) AuditDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, src := range e.AuditDirs(t) {
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatalf("reading the audit volume %s: %v", src, err)
		}
		for _, f := range entries {
			if !f.Type().IsRegular() {
				continue
			}
			if err := os.Link(filepath.Join(src, f.Name()), filepath.Join(dir, f.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// ProcessCgroup is the cgroup path of pid (the first hierarchy listed in
// /proc/<pid>/cgroup that names one), or "" when it cannot be read.
func ProcessCgroup(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && parts[2] != "/" && (parts[1] == "" || strings.Contains(parts[1], "memory") || strings.Contains(parts[1], "pids")) {
			return parts[2]
		}
	}
	return ""
}

// Image is the reference (by digest) of podvirt's image name (controller,
// nodeagent, launcher) as the local install pushed it
// ($PODVIRT_STATE/images.env, written by test/local/install.sh).
func (e *Env) Image(t testing.TB, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.State, "images.env"))
	if err != nil {
		t.Fatalf("the local install's image list: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s image in %s/images.env", name, e.State)
	return ""
}

// PatchAs sends one PATCH of a namespaced object as user (with groups),
// through impersonation, as a node agent's client does: no read first
// (kubectl patch reads the object before it patches, which the node agent
// authorizer refuses a node agent). It returns the API server's error.
func (e *Env) PatchAs(t testing.TB, user string, groups []string, obj client.Object, pt types.PatchType, patch string) error {
	t.Helper()
	cfg := rest.CopyConfig(e.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	c, err := client.New(cfg, client.Options{Scheme: e.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c.Patch(context.Background(), obj, client.RawPatch(pt, []byte(patch)))
}
