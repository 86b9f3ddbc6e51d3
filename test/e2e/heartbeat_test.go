//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// The reasons of the node heartbeat controller (controller/heartbeat_vmi.go).
const (
	reasonNodeUnresponsive = "NodeUnresponsive"
	reasonAwaitingFencing  = "AwaitingFencing"
	reasonNodeLost         = "NodeLost"
)

// waitUnresponsive waits until the VMI's Ready condition has reason (one
// of the heartbeat's), in phase, and returns the VMI. Any other phase on
// the way is an error: an unfenced node never fails a VMI.
func (e *env) waitUnresponsive(t *testing.T, ns, name string, timeout time.Duration, phase v1alpha1.VirtualMachineInstancePhase, reason string) *v1alpha1.VirtualMachineInstance {
	t.Helper()
	var vmi *v1alpha1.VirtualMachineInstance
	framework.Eventually(t, "VMI "+name+" "+string(phase)+" with reason "+reason, timeout, func() (bool, error) {
		vmi = &v1alpha1.VirtualMachineInstance{}
		if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, vmi); err != nil {
			return false, err
		}
		if p := vmi.Status.Phase; p != phase && p != v1alpha1.Running && p != v1alpha1.Unknown {
			t.Fatalf("VMI %s is %s (%s) while its node is unresponsive and not fenced", name, p, vmi.Status.Reason)
		}
		c := meta.FindStatusCondition(vmi.Status.Conditions, v1alpha1.ConditionReady)
		return vmi.Status.Phase == phase && c != nil && c.Status == metav1.ConditionFalse && c.Reason == reason, nil
	})
	return vmi
}

func readyMessage(vmi *v1alpha1.VirtualMachineInstance) string {
	if c := meta.FindStatusCondition(vmi.Status.Conditions, v1alpha1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

// qemuPID is the pid in the running domain's pid file.
func qemuPID(t *testing.T, dom string) string {
	t.Helper()
	pid, err := os.ReadFile(filepath.Join(framework.LibvirtRunDir, dom+".pid"))
	if err != nil {
		t.Fatalf("the QEMU pid of %s: %v", dom, err)
	}
	return string(pid)
}

// forceDeleteLauncher is the runbook's step for a node known to be down:
// the launcher Pod force-deleted, grace period 0.
func (e *env) forceDeleteLauncher(t *testing.T, ns, vmi string) {
	t.Helper()
	if out, err := e.Kubectl("", "delete", "pod", "-n", ns, domainspec.PodName(vmi), "--force", "--grace-period=0", "--wait=false"); err != nil {
		t.Fatalf("force-deleting the launcher Pod: %v\n%s", err, out)
	}
}

// TestNodeHeartbeatUnknownThenBack stops the node agent for longer than
// its heartbeat Lease: the running VMI goes Unknown (NodeUnresponsive),
// past the unknown timeout stays Unknown and says it waits for fencing
// (no one fenced the node), and when the agent is back it is Running
// again in the same QEMU process, the guest booted once.
func TestNodeHeartbeatUnknownThenBack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)
	name := libvmi.TinyName
	footprint := e.Track(t, ns, name)
	e.Apply(t, ns, libvmi.NewTiny())
	e.WaitForVMIPhase(t, ns, name, 120*time.Second, v1alpha1.Running)
	dom := domainspec.Name(ns, name)
	e.GuestConsole(t, dom)
	pidBefore := qemuPID(t, dom)

	lease := &coordinationv1.Lease{}
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: framework.PodvirtNamespace, Name: domainspec.NodeLeaseName(e.Node)}, lease); err != nil {
		t.Fatalf("the node's heartbeat Lease: %v", err)
	}
	if h := lease.Spec.HolderIdentity; h == nil || *h != e.Node || lease.Spec.LeaseDurationSeconds == nil ||
		time.Duration(*lease.Spec.LeaseDurationSeconds)*time.Second != framework.NodeLeaseDuration {
		t.Errorf("heartbeat Lease spec %+v: want held by %s for %s", lease.Spec, e.Node, framework.NodeLeaseDuration)
	}

	e.StopNodeAgent(t)
	stopped := time.Now()
	vmi := e.waitUnresponsive(t, ns, name, framework.NodeLeaseDuration+45*time.Second, v1alpha1.Unknown, reasonNodeUnresponsive)
	t.Logf("Unknown %s after the agent stopped: %s", time.Since(stopped).Round(time.Second), readyMessage(vmi))
	if vmi.Status.Reason != reasonNodeUnresponsive || !strings.Contains(readyMessage(vmi), "node "+e.Node+" stopped heart-beating") {
		t.Errorf("Unknown VMI: reason %q, Ready %q", vmi.Status.Reason, readyMessage(vmi))
	}
	vmi = e.waitUnresponsive(t, ns, name, framework.UnknownTimeout+45*time.Second, v1alpha1.Unknown, reasonAwaitingFencing)
	if vmi.Status.Reason != reasonAwaitingFencing || !strings.Contains(readyMessage(vmi), "not fenced") {
		t.Errorf("past the unknown timeout: reason %q, Ready %q; want it to say it waits for fencing", vmi.Status.Reason, readyMessage(vmi))
	}
	if state, err := e.DomainState(dom); err != nil || state != framework.StateRunning {
		t.Fatalf("domain %s is %v (%v) while no agent runs, want Running", dom, state, err)
	}

	t.Logf("node agent back in %s", e.StartNodeAgent(t).Round(time.Millisecond))
	vmi = e.WaitForVMIPhase(t, ns, name, 60*time.Second, v1alpha1.Running)
	if c := meta.FindStatusCondition(vmi.Status.Conditions, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || vmi.Status.Reason != "" {
		t.Errorf("Running again: reason %q, Ready %+v; want Ready and no reason", vmi.Status.Reason, c)
	}
	if pid := qemuPID(t, dom); pid != pidBefore {
		t.Errorf("QEMU pid %q before, %q after: the guest must keep its process", pidBefore, pid)
	}
	serial, err := e.Console(dom)
	if n := strings.Count(serial, framework.ReadyMarker); err != nil || n != 1 {
		t.Errorf("the guest booted %d times (%v), want once", n, err)
	}
	e.waitEvent(t, ns, name, "podvirt-nodeagent", "StillRunning")

	e.DeleteVMI(t, ns, name, 90*time.Second)
	e.ExpectNoLeaks(t, footprint)
}

// TestNodeFencedByForceDeleteFailsNodeLost: with the node agent stopped,
// the launcher Pod is force-deleted (the runbook of a node known to be
// down): the Unknown VMI fails NodeLost once the unknown timeout is over,
// its launcher Pod is released though no agent answers, and the agent,
// back, removes the orphan domain.
func TestNodeFencedByForceDeleteFailsNodeLost(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	name := libvmi.TinyName
	footprint := e.Track(t, ns, name)
	e.Apply(t, ns, libvmi.NewTiny())
	e.WaitForVMIPhase(t, ns, name, 120*time.Second, v1alpha1.Running)
	dom := domainspec.Name(ns, name)
	e.GuestConsole(t, dom)

	e.StopNodeAgent(t)
	e.waitUnresponsive(t, ns, name, framework.NodeLeaseDuration+45*time.Second, v1alpha1.Unknown, reasonNodeUnresponsive)
	e.forceDeleteLauncher(t, ns, name)
	vmi := e.WaitForVMIPhase(t, ns, name, framework.UnknownTimeout+60*time.Second, v1alpha1.Failed)
	if vmi.Status.Reason != reasonNodeLost || !strings.Contains(readyMessage(vmi), "was force-deleted (grace period 0)") {
		t.Errorf("Failed VMI: reason %q, Ready %q; want NodeLost naming the force-deleted Pod", vmi.Status.Reason, readyMessage(vmi))
	}
	// No agent holds it now: the controller released it.
	e.WaitForLauncherPodsGone(t, ns, name, 60*time.Second)

	e.StartNodeAgent(t)
	// The agent's garbage collection: a pass a minute, an orphan removed
	// 30 s after it is first seen.
	framework.Eventually(t, "the orphan domain "+dom+" removed", 3*time.Minute, func() (bool, error) {
		state, err := e.DomainState(dom)
		return state == framework.StateAbsent, err
	})
	if got := e.VMI(t, ns, name); got.Status.Phase != v1alpha1.Failed || got.Status.Reason != reasonNodeLost {
		t.Errorf("after the agent came back: phase %q reason %q, want it left Failed/NodeLost", got.Status.Phase, got.Status.Reason)
	}
	e.DeleteVMI(t, ns, name, 60*time.Second)
	e.ExpectNoLeaks(t, footprint)
}

// TestNodeFencedVMStartsAgain: a VM with runStrategy RerunOnFailure on a
// node whose agent stopped keeps its one VMI while the node is not
// fenced, past the unknown timeout too (a second copy could run beside
// the first); once its launcher Pod is force-deleted the VMI fails
// NodeLost, the VM starts a new one, and that one runs once the node has
// an agent again (here the same node: there is one), over the old domain.
func TestNodeFencedVMStartsAgain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)
	const name = "rerun"
	footprint := e.Track(t, ns, name)
	e.Apply(t, ns, tinyVM(name, ptr.To(v1alpha1.RunStrategyRerunOnFailure), nil))
	first := e.WaitForVMIPhase(t, ns, name, 3*time.Minute, v1alpha1.Running)
	dom := domainspec.Name(ns, name)
	e.GuestConsole(t, dom)

	e.StopNodeAgent(t)
	e.waitUnresponsive(t, ns, name, framework.NodeLeaseDuration+framework.UnknownTimeout+60*time.Second, v1alpha1.Unknown, reasonAwaitingFencing)
	if vmi := e.VMI(t, ns, name); vmi.UID != first.UID {
		t.Fatalf("the VM replaced its VMI while the node was not fenced")
	}
	e.waitVMStatus(t, ns, name, v1alpha1.VMStatusUnknown, false, 30*time.Second)

	e.forceDeleteLauncher(t, ns, name)
	framework.Eventually(t, "a new VMI of "+name, 2*time.Minute, func() (bool, error) {
		vmi := &v1alpha1.VirtualMachineInstance{}
		err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, vmi)
		return err == nil && vmi.UID != first.UID, client.IgnoreNotFound(err)
	})
	e.StartNodeAgent(t)
	second := e.WaitForVMIPhase(t, ns, name, 3*time.Minute, v1alpha1.Running)
	if second.UID == first.UID {
		t.Fatal("the Running VMI is the lost one")
	}
	xml, err := os.ReadFile(filepath.Join(framework.LibvirtRunDir, dom+".xml"))
	if err != nil || !strings.Contains(string(xml), string(second.UID)) || strings.Contains(string(xml), string(first.UID)) {
		t.Errorf("the running domain is not the new VMI's (want uid %s, not %s): %v", second.UID, first.UID, err)
	}
	e.waitVMStatus(t, ns, name, v1alpha1.VMStatusRunning, true, time.Minute)

	vm := &v1alpha1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := e.Client.Delete(ctx, vm, client.PropagationPolicy(metav1.DeletePropagationForeground)); err != nil {
		t.Fatal(err)
	}
	e.vmiGone(t, ns, name, 2*time.Minute)
	e.WaitForLauncherPodsGone(t, ns, name, time.Minute)
	e.ExpectNoLeaks(t, footprint)
}

// waitEvent waits for an Event on the VMI from controller with reason.
func (e *env) waitEvent(t *testing.T, ns, vmi, controller, reason string) {
	t.Helper()
	framework.Eventually(t, vmi+"'s "+reason+" Event", 30*time.Second, func() (bool, error) {
		list := &eventsv1.EventList{}
		if err := e.Client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, ev := range list.Items {
			if ev.Regarding.Name == vmi && ev.Reason == reason && ev.ReportingController == controller {
				return true, nil
			}
		}
		return false, nil
	})
}

// updateAs updates obj as user (with groups), through impersonation, as
// a node agent's client renews its Lease (RBAC grants update, not patch).
func (e *env) updateAs(t *testing.T, user string, groups []string, obj client.Object) error {
	t.Helper()
	cfg := rest.CopyConfig(e.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	c, err := client.New(cfg, client.Options{Scheme: e.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c.Update(context.Background(), obj)
}

// TestNodeAgentLeaseRestriction acts as another node's agent: it may
// create and renew its own node's heartbeat Lease, never this node's
// (keeping a dead node alive, or expiring a live one) nor the
// controller's leader Lease.
func TestNodeAgentLeaseRestriction(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const agent = "system:podvirt:nodeagent:other-node"
	groups := []string{"podvirt:nodeagents"}
	own := &coordinationv1.Lease{
		TypeMeta:   metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
		ObjectMeta: metav1.ObjectMeta{Namespace: framework.PodvirtNamespace, Name: domainspec.NodeLeaseName("other-node")},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("other-node"), LeaseDurationSeconds: ptr.To(int32(15))},
	}
	t.Cleanup(func() { _ = e.Client.Delete(ctx, own) })
	if out, err := e.Kubectl(framework.Manifest(t, own), "create", "-f", "-", "--as", agent, "--as-group", groups[0]); err != nil {
		t.Fatalf("another node's agent creating its own heartbeat Lease: %v\n%s", err, out)
	}
	renew := func(l *coordinationv1.Lease) { l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()} }
	for _, tc := range []struct {
		what, name string
		change     func(*coordinationv1.Lease)
		want       string
	}{
		{"renewing this node's heartbeat", domainspec.NodeLeaseName(e.Node), renew,
			"node agent of other-node may only create and renew its own heartbeat Lease podvirt-nodeagent-other-node"},
		{"taking its own Lease from its node", domainspec.NodeLeaseName("other-node"),
			func(l *coordinationv1.Lease) { l.Spec.HolderIdentity = ptr.To(e.Node) }, "held by other-node"},
		{"taking the controller's leader Lease", framework.ControllerName,
			func(l *coordinationv1.Lease) { l.Spec.HolderIdentity = ptr.To("other-node") }, "its own heartbeat Lease"},
		{"renewing its own heartbeat", domainspec.NodeLeaseName("other-node"), renew, ""},
	} {
		// Leases take no unconditional update, and the real holders renew
		// these every few seconds: a conflict ends the request before
		// admission judges it, so read and try again.
		var err error
		for try := 0; try < 10; try++ {
			lease := &coordinationv1.Lease{}
			if gerr := e.Client.Get(ctx, types.NamespacedName{Namespace: framework.PodvirtNamespace, Name: tc.name}, lease); gerr != nil {
				t.Fatal(gerr)
			}
			tc.change(lease)
			if err = e.updateAs(t, agent, groups, lease); !apierrors.IsConflict(err) {
				break
			}
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("another node's agent %s: %v", tc.what, err)
		case tc.want == "":
		case err == nil || !strings.Contains(err.Error(), tc.want):
			t.Errorf("ATTACK GOT THROUGH? another node's agent %s: %v; want refused with %q", tc.what, err, tc.want)
		default:
			t.Logf("another node's agent %s -> refused: %s", tc.what, lastLine(err.Error()))
		}
	}
}
