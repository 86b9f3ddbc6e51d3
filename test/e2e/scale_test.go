//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

const (
	kwokNodes = 4
	// kwokMetricsPort is where test/local/kwok.sh has node i's agent serve
	// its metrics: this port + i.
	kwokMetricsPort = 18100
	// kwokNodeLabel is the label test/local/kwok.sh gives its nodes.
	kwokNodeLabel = "podvirt.io/kwok"
)

// kwokToleration tolerates the taint test/local/kwok.sh gives its nodes.
var kwokToleration = corev1.Toleration{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

// inParallel calls do(1) to do(count) from workers goroutines at once; the
// function it returns waits for them all and gives the first error.
func inParallel(workers, count int, do func(i int) error) func() error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)); i <= count; i = int(next.Add(1)) {
				if err := do(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	return func() error {
		wg.Wait()
		return first
	}
}

// kwokUp brings up test/local/kwok.sh's simulated nodes for the test and
// takes them down after it.
func (e *env) kwokUp(t *testing.T, nodes int) {
	t.Helper()
	script := filepath.Join(e.Repo, "test", "local", "kwok.sh")
	kwok := func(args ...string) {
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "PODVIRT_STATE="+e.State)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kwok.sh %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	start := time.Now()
	kwok("up", strconv.Itoa(nodes))
	t.Cleanup(func() { kwok("down") })
	t.Logf("%d kwok nodes and their agents up in %s", nodes, time.Since(start).Round(time.Millisecond))
}

// kwokVMI is the tiny guest for a kwok node: it tolerates and selects
// kwok's nodes, so its launcher Pod lands on one, whose agent defines it
// in libvirt's test driver.
func kwokVMI(ns string, i int) *v1alpha1.VirtualMachineInstance {
	return libvmi.NewTiny(
		libvmi.WithNamespace(ns),
		libvmi.WithName(fmt.Sprintf("scale-%03d", i)),
		libvmi.WithNodeSelector(kwokNodeLabel, "true"),
		libvmi.WithToleration(kwokToleration),
	)
}

// kwokAgentsSum sums a metric over the kwok nodes' agents.
func kwokAgentsSum(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	var sum float64
	for i := range kwokNodes {
		sum += scrapeURL(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", kwokMetricsPort+i), name, labels)
	}
	return sum
}

// controllerPID is the pid of replica pod's podvirt-controller process.
func controllerPID(t *testing.T, e *env, pod string) int {
	t.Helper()
	p := &corev1.Pod{}
	if err := e.Client.Get(context.Background(), client.ObjectKey{Namespace: framework.PodvirtNamespace, Name: pod}, p); err != nil {
		t.Fatal(err)
	}
	uid := string(p.UID)
	for _, pid := range framework.ProcessPIDs(framework.ControllerName) {
		cg := framework.ProcessCgroup(pid)
		// cgroupfs writes the Pod's UID as is, systemd with underscores.
		if strings.Contains(cg, uid) || strings.Contains(cg, strings.ReplaceAll(uid, "-", "_")) {
			return pid
		}
	}
	t.Fatalf("no %s process in the cgroup of Pod %s (uid %s)", framework.ControllerName, pod, uid)
	return 0
}

// TestScaleKwok200 starts 200 VMIs across 4 kwok nodes, each node's agent
// on libvirt's test driver with a node identity of its own, and kills the
// controller leader's process (SIGKILL) in the middle of the burst. Every
// create is retried until the API server answers it (a create in flight to
// the killed replica fails), as a client would. In the end: every VMI
// created is Running on a kwok node, with exactly one launcher Pod, on the
// node its status names; the agents defined and reported each exactly
// once, failed none, and hold one running domain per VMI. Deleting them
// leaves no domain and no VMI directory on any agent.
func TestScaleKwok200(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.WaitPodvirtReady(t)
	e.kwokUp(t, kwokNodes)
	ns := e.Namespace(t)
	const count, workers, killAt = 200, 16, 50
	podsPerSecond := bareKwokPods(t, e, ns, count, workers)
	leader := e.ControllerLeader(t)
	leaderPID := controllerPID(t, e, leader)
	var created, retries atomic.Int64
	start := time.Now()
	createsDone := inParallel(workers, count, func(i int) error {
		if err := createRetrying(ctx, e, kwokVMI(ns, i), &retries); err != nil {
			return err
		}
		created.Add(1)
		return nil
	})
	runningNow := func() (int, error) {
		vmis := &v1alpha1.VirtualMachineInstanceList{}
		if err := e.Client.List(ctx, vmis, client.InNamespace(ns)); err != nil {
			return 0, err
		}
		n := 0
		for _, v := range vmis.Items {
			if v.Status.Phase == v1alpha1.Running {
				n++
			}
		}
		return n, nil
	}
	// The leader dies once killAt guests run: with the creates long done,
	// in the middle of the starts, which is the controller's burst.
	var atKill int
	framework.Eventually(t, fmt.Sprintf("%d guests running", killAt), 5*time.Minute, func() (bool, error) {
		n, err := runningNow()
		atKill = n
		return n >= killAt, err
	})
	framework.KillProcess(t, leaderPID)
	killedAt := time.Now()
	if atKill >= count {
		t.Fatalf("all %d VMIs were Running before the leader could be killed: nothing was tested", count)
	}
	if err := createsDone(); err != nil {
		t.Fatalf("a create never went through: %v", err)
	}
	t.Logf("%d VMIs created (%d creates retried); leader %s (pid %d) killed %s after the first create, with %d Running",
		created.Load(), retries.Load(), leader, leaderPID, killedAt.Sub(start).Round(time.Millisecond), atKill)

	// All Running, each on a kwok node, with exactly one launcher Pod there.
	// stall is the longest time after the kill with no guest turning
	// Running: the leaderless gap (the agents finish the starts already
	// signed first).
	var perNode map[string]int
	lastCount, lastRise, stall := atKill, killedAt, time.Duration(0)
	framework.Eventually(t, "all 200 VMIs Running on kwok nodes", 10*time.Minute, func() (bool, error) {
		vmis := &v1alpha1.VirtualMachineInstanceList{}
		if err := e.Client.List(ctx, vmis, client.InNamespace(ns)); err != nil {
			return false, err
		}
		if len(vmis.Items) != count {
			t.Fatalf("%d VMIs in the namespace, want %d: none lost, none added", len(vmis.Items), count)
		}
		running := 0
		for _, v := range vmis.Items {
			if v.Status.Phase == v1alpha1.Failed || v.Status.Phase == v1alpha1.Succeeded {
				t.Fatalf("VMI %s ended %s (%s)", v.Name, v.Status.Phase, v.Status.Reason)
			}
			if v.Status.Phase == v1alpha1.Running {
				running++
			}
		}
		if running > lastCount {
			stall = max(stall, time.Since(lastRise))
			lastCount, lastRise = running, time.Now()
		}
		return running == count, nil
	})
	allRunning := time.Since(start)
	// The start rate with the leaderless gap taken out, beside the bare
	// Pods' in the same run.
	working := allRunning - stall
	vmisPerSecond := float64(count) / working.Seconds()
	t.Logf("without the %s after the kill with no guest turning Running: %d VMIs Running in %s, %.1f/s, %.2f× the bare Pods' %.1f/s",
		stall.Round(time.Millisecond), count, working.Round(time.Millisecond), vmisPerSecond, vmisPerSecond/podsPerSecond, podsPerSecond)
	vmis := &v1alpha1.VirtualMachineInstanceList{}
	if err := e.Client.List(ctx, vmis, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	pods := &corev1.PodList{}
	if err := e.Client.List(ctx, pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	podsOf := map[string][]corev1.Pod{}
	for _, p := range pods.Items {
		podsOf[p.Labels[domainspec.LabelVMI]] = append(podsOf[p.Labels[domainspec.LabelVMI]], p)
	}
	perNode = map[string]int{}
	for _, v := range vmis.Items {
		ps := podsOf[v.Name]
		if len(ps) != 1 {
			t.Errorf("VMI %s has %d launcher Pods, want 1", v.Name, len(ps))
			continue
		}
		if !strings.HasPrefix(v.Status.NodeName, "kwok-node-") || ps[0].Spec.NodeName != v.Status.NodeName {
			t.Errorf("VMI %s runs on %q, its Pod is bound to %q: want the same kwok node", v.Name, v.Status.NodeName, ps[0].Spec.NodeName)
		}
		if string(v.UID) != ps[0].Labels[domainspec.LabelVMIUID] {
			t.Errorf("VMI %s's Pod belongs to UID %s, not %s", v.Name, ps[0].Labels[domainspec.LabelVMIUID], v.UID)
		}
		perNode[v.Status.NodeName]++
	}
	if len(pods.Items) != count {
		t.Errorf("%d launcher Pods, want %d", len(pods.Items), count)
	}
	for i := range kwokNodes {
		if node := fmt.Sprintf("kwok-node-%d", i); perNode[node] == 0 {
			t.Errorf("no VMI on %s: %v", node, perNode)
		}
	}

	// What the agents did: one define and one Running report per VMI, no
	// failure, one running domain per VMI in their test drivers.
	defines := kwokAgentsSum(t, "podvirt_nodeagent_domain_prepare_seconds", nil)
	reports := kwokAgentsSum(t, "podvirt_nodeagent_vmi_startup_seconds", nil)
	failures := kwokAgentsSum(t, "podvirt_nodeagent_vmi_failures_total", nil)
	domains := kwokAgentsSum(t, "podvirt_nodeagent_domains", map[string]string{"state": "Running"})
	if defines != count || reports != count || failures != 0 || domains != count {
		t.Errorf("the kwok agents defined %v domains, reported %v VMIs Running, failed %v, hold %v running domains; want %d, %d, 0, %d",
			defines, reports, failures, domains, count, count, count)
	}
	newLeader := e.ControllerLeader(t)
	restarts := int32(0)
	old := &corev1.Pod{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: framework.PodvirtNamespace, Name: leader}, old); err == nil {
		for _, cs := range old.Status.ContainerStatuses {
			restarts += cs.RestartCount
		}
	}
	nodes := make([]string, 0, len(perNode))
	for n, c := range perNode {
		nodes = append(nodes, fmt.Sprintf("%s=%d", n, c))
	}
	sort.Strings(nodes)
	t.Logf("all %d Running %s after the first create (%s after the kill); per node %s; leader now %s (the killed replica restarted %d times)",
		count, allRunning.Round(time.Millisecond), time.Since(killedAt).Round(time.Millisecond), strings.Join(nodes, " "), newLeader, restarts)

	// Deleted: every domain goes, and every agent's VMI directories.
	deleteStart := time.Now()
	if err := e.Client.DeleteAllOf(ctx, &v1alpha1.VirtualMachineInstance{}, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, "every VMI and launcher Pod gone", 5*time.Minute, func() (bool, error) {
		left := &corev1.PodList{}
		if err := e.Client.List(ctx, left, client.InNamespace(ns)); err != nil {
			return false, err
		}
		vmis := &v1alpha1.VirtualMachineInstanceList{}
		if err := e.Client.List(ctx, vmis, client.InNamespace(ns)); err != nil {
			return false, err
		}
		return len(left.Items) == 0 && len(vmis.Items) == 0, nil
	})
	framework.Eventually(t, "no domain left on the kwok agents", 60*time.Second, func() (bool, error) {
		return kwokAgentsSum(t, "podvirt_nodeagent_domains", nil) == 0, nil
	})
	for i := range kwokNodes {
		// Its socket directories, and the simulated host's VMI directories.
		for _, sub := range []string{"vmis", filepath.Join("sim", "vmis")} {
			dir := filepath.Join(e.State, "kwok", fmt.Sprintf("agent-%d", i), sub)
			if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				t.Errorf("agent %d left %d VMI directories in %s", i, len(entries), dir)
			}
		}
	}
	t.Logf("all %d deleted, their domains gone, in %s", count, time.Since(deleteStart).Round(time.Millisecond))
}

// bareKwokPods is the floor the VMIs' starts are measured against in the
// same run: count plain Pods, shaped as launcher Pods are (resources,
// toleration, node selector), created by workers clients onto the kwok
// nodes, until all are Running (kwok plays the kubelet), then deleted. It
// returns Pods Running per second.
func bareKwokPods(t *testing.T, e *env, ns string, count, workers int) float64 {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	err := inParallel(workers, count, func(i int) error {
		p := &corev1.Pod{}
		p.Name, p.Namespace = fmt.Sprintf("bare-%03d", i), ns
		p.Labels = map[string]string{"app": "bare"}
		p.Spec.NodeSelector = map[string]string{kwokNodeLabel: "true"}
		p.Spec.Tolerations = []corev1.Toleration{kwokToleration}
		p.Spec.Containers = []corev1.Container{{Name: "c", Image: "podvirt.io/pause:dev", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		}}}
		if err := e.Client.Create(ctx, p); err != nil {
			return fmt.Errorf("creating Pod %s: %w", p.Name, err)
		}
		return nil
	})()
	if err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, "the bare Pods Running", 5*time.Minute, func() (bool, error) {
		pods := &corev1.PodList{}
		if err := e.Client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{"app": "bare"}); err != nil {
			return false, err
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == count, nil
	})
	took := time.Since(start)
	if err := e.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.MatchingLabels{"app": "bare"}, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, "the bare Pods gone", 2*time.Minute, func() (bool, error) {
		pods := &corev1.PodList{}
		err := e.Client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{"app": "bare"})
		return err == nil && len(pods.Items) == 0, err
	})
	t.Logf("%d bare Pods Running on the kwok nodes in %s", count, took.Round(time.Millisecond))
	return float64(count) / took.Seconds()
}

// createRetrying creates vmi, retrying what did not reach a decision (the
// replica that answered died, or was gone from the Service) for up to a
// minute; an AlreadyExists after a retry is a create that went through.
func createRetrying(ctx context.Context, e *env, vmi *v1alpha1.VirtualMachineInstance, retries *atomic.Int64) error {
	deadline := time.Now().Add(time.Minute)
	for attempt := 0; ; attempt++ {
		err := e.Client.Create(ctx, vmi.DeepCopy())
		switch {
		case err == nil, attempt > 0 && apierrors.IsAlreadyExists(err):
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("creating %s: %w", vmi.Name, err)
		}
		retries.Add(1)
		time.Sleep(200 * time.Millisecond)
	}
}
