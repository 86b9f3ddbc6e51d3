//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podvirt/podvirt/audit"
	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
)

// TestPodvirtRunsInTheCluster: both controller replicas and the node agent
// are Ready Pods, and every podvirt process of this checkout on this node
// runs in a container (a kubepods cgroup), none beside them on the host
// (a process of the same name built elsewhere, a developer's run beside
// the cluster, is named in the log and not counted).
func TestPodvirtRunsInTheCluster(t *testing.T) {
	e := newEnv(t)
	e.WaitPodvirtReady(t)
	out, err := e.Kubectl("", "-n", framework.PodvirtNamespace, "get", "pods", "-o", "wide")
	if err != nil {
		t.Fatalf("kubectl get pods: %v\n%s", err, out)
	}
	t.Logf("kubectl -n %s get pods:\n%s", framework.PodvirtNamespace, out)
	seen := 0
	for _, name := range []string{framework.ControllerName, framework.NodeAgentName, "podvirt-launcher"} {
		for _, pid := range framework.HostProcessPIDs(name) {
			cg := framework.ProcessCgroup(pid)
			inPods := strings.Contains(cg, "/kubepods")
			exe := framework.ProcessExe(pid)
			if !inPods && !strings.HasPrefix(exe, e.Repo+"/") {
				t.Logf("note: %s (pid %d, %s) runs outside the cluster and was not built in this checkout: not the cluster's", name, pid, exe)
				continue
			}
			seen++
			if !inPods {
				t.Errorf("%s (pid %d, %s) runs outside the kubelet's Pods, in cgroup %q", name, pid, exe, cg)
			}
		}
	}
	if seen < framework.ControllerReplicas+1 {
		t.Errorf("found %d podvirt processes, want at least %d", seen, framework.ControllerReplicas+1)
	}
}

// TestControllerLeaderLost deletes the leader controller's Pod during a
// burst of at least 300 VMI creates at concurrency 16, without retries,
// that lasts until the StatefulSet has replaced the Pod and a leader holds
// the lease again: no create fails, every VMI gets exactly one launcher
// Pod and reaches its phase, every admission has its audit line, and every
// chain verifies.
func TestControllerLeaderLost(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.WaitPodvirtReady(t)
	ns := e.Namespace(t)
	const atLeast, workers, deleteAfter = 300, 16, 60
	leader := e.ControllerLeader(t)
	old := &corev1.Pod{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: framework.PodvirtNamespace, Name: leader}, old); err != nil {
		t.Fatal(err)
	}

	// Paced so that 300 creates span the replacement (about 15 s).
	l := e.startLoad(t, ns, "burst", workers, 800*time.Millisecond)
	framework.Eventually(t, "the burst under way", 60*time.Second, func() (bool, error) { return l.created.Load() >= deleteAfter, nil })
	start := time.Now()
	if out, err := e.Kubectl("", "-n", framework.PodvirtNamespace, "delete", "pod", leader, "--wait=false"); err != nil {
		t.Fatalf("deleting the leader %s: %v\n%s", leader, err, out)
	}
	framework.Eventually(t, "the leader's Pod replaced", 120*time.Second, func() (bool, error) {
		p := &corev1.Pod{}
		err := e.Client.Get(ctx, client.ObjectKey{Namespace: framework.PodvirtNamespace, Name: leader}, p)
		return err == nil && p.UID != old.UID, nil
	})
	e.WaitPodvirtReady(t)
	replaced := time.Since(start)
	framework.Eventually(t, "a leader again, and 300 creates", 120*time.Second, func() (bool, error) {
		out, err := e.Kubectl("", "-n", framework.PodvirtNamespace, "get", "lease", framework.ControllerName, "-o", "jsonpath={.spec.holderIdentity}")
		return err == nil && strings.TrimSpace(out) != "" && l.created.Load()+l.failed.Load() >= atLeast, nil
	})
	l.finish(t, fmt.Sprintf("leader %s deleted after %d creates, replaced in %s, new leader %s", leader, deleteAfter, replaced.Round(time.Millisecond), e.ControllerLeader(t)))
	total := int(l.created.Load())

	// Each VMI: one launcher Pod (unschedulable by design), phase Scheduling.
	framework.Eventually(t, "one launcher Pod per VMI, every VMI Scheduling", 180*time.Second, func() (bool, error) {
		vmis := &v1alpha1.VirtualMachineInstanceList{}
		if err := e.Client.List(ctx, vmis, client.InNamespace(ns)); err != nil {
			return false, err
		}
		pods := &corev1.PodList{}
		if err := e.Client.List(ctx, pods, client.InNamespace(ns)); err != nil {
			return false, err
		}
		perVMI := map[string]int{}
		for _, p := range pods.Items {
			perVMI[p.Labels[domainspec.LabelVMI]]++
		}
		for _, v := range vmis.Items {
			if perVMI[v.Name] > 1 {
				t.Fatalf("VMI %s has %d launcher Pods", v.Name, perVMI[v.Name])
			}
			if perVMI[v.Name] != 1 || v.Status.Phase != v1alpha1.Scheduling {
				return false, nil
			}
		}
		return len(vmis.Items) == total, nil
	})

	dir := e.AuditDir(t)
	admitted := map[string]bool{}
	for rec, err := range audit.Read(ctx, dir, audit.Filter{Namespace: ns, Webhook: audit.WebhookValidateVMI}) {
		if err != nil {
			t.Fatalf("reading the audit log: %v", err)
		}
		if rec.Operation == "CREATE" && rec.Decision == audit.DecisionAllowed {
			admitted[rec.Name] = true
		}
	}
	vmis := &v1alpha1.VirtualMachineInstanceList{}
	if err := e.Client.List(ctx, vmis, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, v := range vmis.Items {
		if !admitted[v.Name] {
			t.Errorf("VMI %s exists but has no audit line", v.Name)
		}
	}
	out, err := exec.Command(e.podvirtctl(t), "audit", "verify", "--dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	t.Logf("verify: %s", strings.TrimSpace(string(out)))
}

// TestControllerPodSecurityRestricted: the controller's Pod, as its
// StatefulSet templates it, is admitted by Pod Security "restricted"
// (a server-side dry run in a namespace that enforces it).
func TestControllerPodSecurityRestricted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)
	if out, err := e.Kubectl("", "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted"); err != nil {
		t.Fatalf("labelling %s: %v\n%s", ns, err, out)
	}
	sts := &appsv1.StatefulSet{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: framework.PodvirtNamespace, Name: framework.ControllerName}, sts); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{Spec: *sts.Spec.Template.Spec.DeepCopy()}
	pod.Namespace, pod.Name = ns, "restricted-check"
	pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount = "", ""
	pod.Spec.Volumes = nil
	pod.Spec.Containers[0].VolumeMounts = nil
	if err := e.Client.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("the controller's Pod is refused by Pod Security restricted: %v", err)
	}
	// And the check is real: the node agent's Pod is refused.
	ds := &appsv1.DaemonSet{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: framework.PodvirtNamespace, Name: framework.NodeAgentName}, ds); err != nil {
		t.Fatal(err)
	}
	agent := &corev1.Pod{Spec: *ds.Spec.Template.Spec.DeepCopy()}
	agent.Namespace, agent.Name = ns, "privileged-check"
	agent.Spec.ServiceAccountName, agent.Spec.DeprecatedServiceAccount, agent.Spec.PriorityClassName = "", "", ""
	if err := e.Client.Create(ctx, agent, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Errorf("the node agent's Pod in a restricted namespace: %v, want a Pod Security refusal", err)
	}
}
