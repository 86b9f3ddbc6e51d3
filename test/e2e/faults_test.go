//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// Faults of issue #14: each test breaks one thing under running guests
// and checks the final state: every VMI in the right phase with its
// reason, exactly one domain (one QEMU) per running VMI, and nothing left
// on the node once the VMIs end.

// startTiny applies the tiny guest under each name, tracked by the leak
// checker, and waits until each is Running and booted; it returns the
// VMIs and their footprints.
func (e *env) startTiny(t *testing.T, ns string, names ...string) (map[string]*v1alpha1.VirtualMachineInstance, map[string]*framework.Footprint) {
	t.Helper()
	fps := map[string]*framework.Footprint{}
	for _, n := range names {
		fps[n] = e.Track(t, ns, n)
		e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName(n)))
	}
	vmis := map[string]*v1alpha1.VirtualMachineInstance{}
	for _, n := range names {
		vmis[n] = e.WaitForVMIPhase(t, ns, n, 3*time.Minute, v1alpha1.Running)
		e.GuestConsole(t, domainspec.Name(ns, n))
	}
	return vmis, fps
}

// expectOneGuest checks that the VMI is Running and Ready with exactly one
// domain and one QEMU, and that the guest booted once; it returns the
// QEMU's pid.
func (e *env) expectOneGuest(t *testing.T, ns, name string) int {
	t.Helper()
	vmi := e.VMI(t, ns, name)
	if c := meta.FindStatusCondition(vmi.Status.Conditions, v1alpha1.ConditionReady); vmi.Status.Phase != v1alpha1.Running || c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("VMI %s: phase %q reason %q Ready %+v, want Running and Ready", name, vmi.Status.Phase, vmi.Status.Reason, c)
	}
	pid, err := e.OneDomain(vmi)
	if err != nil {
		t.Errorf("VMI %s: %v", name, err)
	}
	if n, err := e.BootCount(domainspec.Name(ns, name)); err != nil || n != 1 {
		t.Errorf("VMI %s: the guest booted %d times (%v), want once", name, n, err)
	}
	return pid
}

// expectEnded checks the VMI's final phase and reason, and that its Ready
// condition is false with that reason and a message holding msg.
func expectEnded(t *testing.T, vmi *v1alpha1.VirtualMachineInstance, phase v1alpha1.VirtualMachineInstancePhase, reason, msg string) {
	t.Helper()
	c := meta.FindStatusCondition(vmi.Status.Conditions, v1alpha1.ConditionReady)
	if vmi.Status.Phase != phase || vmi.Status.Reason != reason || c == nil || c.Status != metav1.ConditionFalse ||
		c.Reason != reason || !strings.Contains(c.Message, msg) {
		t.Errorf("VMI %s: phase %q reason %q Ready %+v; want %s, reason %s, Ready false saying %q",
			vmi.Name, vmi.Status.Phase, vmi.Status.Reason, c, phase, reason, msg)
	}
}

// stillEnded checks, for a few seconds, that the VMI stays in its final
// phase and no launcher Pod of it comes back: an ended VMI is a record,
// never started again.
func (e *env) stillEnded(t *testing.T, ns, name string, phase v1alpha1.VirtualMachineInstancePhase, reason string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		vmi := e.VMI(t, ns, name)
		if vmi.Status.Phase != phase || vmi.Status.Reason != reason {
			t.Fatalf("VMI %s went %s/%s after it ended %s/%s", name, vmi.Status.Phase, vmi.Status.Reason, phase, reason)
		}
		if state, err := e.DomainState(domainspec.Name(ns, name)); err != nil || state != framework.StateAbsent {
			t.Fatalf("VMI %s ended, yet its domain is %v (%v)", name, state, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	e.WaitForLauncherPodsGone(t, ns, name, time.Second)
}

// TestQEMUKilledFailsVMI kills one guest's QEMU with SIGKILL (what the OOM
// killer or a crash does) while a second guest runs beside it: the VMI
// fails GuestCrashed at once, its launcher Pod ends and nothing of it is
// left; the other guest keeps its QEMU, its boot and its Running VMI.
func TestQEMUKilledFailsVMI(t *testing.T) {
	e := newEnv(t)
	began := time.Now()
	ns := e.Namespace(t)
	_, fps := e.startTiny(t, ns, "victim", "bystander")
	bystanderPID := e.expectOneGuest(t, ns, "bystander")
	victimPID := e.expectOneGuest(t, ns, "victim")

	killed := time.Now()
	framework.KillProcess(t, victimPID)
	vmi := e.WaitForVMIPhase(t, ns, "victim", 60*time.Second, v1alpha1.Failed)
	t.Logf("kill -9 of QEMU (pid %d) -> VMI Failed in %s", victimPID, time.Since(killed).Round(time.Millisecond))
	expectEnded(t, vmi, v1alpha1.Failed, "GuestCrashed", "QEMU process ended without the guest shutting down")
	e.waitEvent(t, ns, "victim", "podvirt-nodeagent", "GuestCrashed")
	e.WaitForLauncherPodsGone(t, ns, "victim", 90*time.Second)
	t.Logf("kill -9 of QEMU -> launcher Pod gone in %s", time.Since(killed).Round(time.Millisecond))
	e.stillEnded(t, ns, "victim", v1alpha1.Failed, "GuestCrashed")
	e.ExpectNoLeaks(t, fps["victim"])

	if pid := e.expectOneGuest(t, ns, "bystander"); pid != bystanderPID {
		t.Errorf("the bystander's QEMU is pid %d, was %d: it must be untouched", pid, bystanderPID)
	}
	e.DeleteVMI(t, ns, "bystander", 90*time.Second)
	e.ExpectNoLeaks(t, fps["bystander"])
	t.Logf("wall time %s", time.Since(began).Round(time.Second))
}

// TestLauncherPodDeletedEndsVMI deletes a running VMI's launcher Pod by
// hand, as KubeVirt users do with virt-launcher Pods: the guest gets its
// ACPI shutdown, powers off, and the VMI ends Succeeded, saying its Pod
// was deleted (KubeVirt's virt-handler reports a guest that shut down on
// its launcher's SIGTERM Succeeded too). The VMI stays as the record; no
// new launcher Pod is made, nothing is left on the node.
func TestLauncherPodDeletedEndsVMI(t *testing.T) {
	e := newEnv(t)
	began := time.Now()
	ns := e.Namespace(t)
	const name = "orphaned"
	_, fps := e.startTiny(t, ns, name)
	e.expectOneGuest(t, ns, name)

	deleted := time.Now()
	if out, err := e.Kubectl("", "delete", "pod", "-n", ns, domainspec.PodName(name), "--wait=false"); err != nil {
		t.Fatalf("kubectl delete pod: %v\n%s", err, out)
	}
	vmi := e.WaitForVMIPhase(t, ns, name, time.Duration(libvmi.TinyGracePeriod+30)*time.Second, v1alpha1.Succeeded, v1alpha1.Failed)
	t.Logf("kubectl delete pod -> VMI %s in %s", vmi.Status.Phase, time.Since(deleted).Round(time.Millisecond))
	expectEnded(t, vmi, v1alpha1.Succeeded, "GuestShutdown", "the guest powered off: its launcher Pod "+domainspec.PodName(name)+" was deleted")
	e.WaitForLauncherPodsGone(t, ns, name, 60*time.Second)
	t.Logf("kubectl delete pod -> launcher Pod gone in %s", time.Since(deleted).Round(time.Millisecond))
	e.stillEnded(t, ns, name, v1alpha1.Succeeded, "GuestShutdown")
	e.ExpectNoLeaks(t, fps[name])
	t.Logf("wall time %s", time.Since(began).Round(time.Second))
}

// TestLibvirtdRestartKeepsGuests restarts the node's libvirtd (SIGTERM, a
// few seconds down, started again) under three running guests: no guest
// is restarted (the same QEMU each, booted once), every VMI is Running
// again, Unknown at most while libvirtd was away, with exactly one domain
// each; and the node agent is connected again, events included: a guest
// powered off right after is Succeeded within seconds, another is deleted
// with its ACPI shutdown, and nothing is left. A fourth guest's QEMU is
// killed while libvirtd is down: libvirtd, back, finds it gone and sends
// no event anyone hears, so only the agent's resync after it subscribes
// again reports it, Failed GuestCrashed, within seconds rather than at
// its next poll.
func TestLibvirtdRestartKeepsGuests(t *testing.T) {
	e := newEnv(t)
	began := time.Now()
	ns := e.Namespace(t)
	names := []string{"lv-a", "lv-b", "lv-c"}
	const lost = "lv-lost"
	_, fps := e.startTiny(t, ns, append(names, lost)...)
	pids := map[string]int{}
	for _, n := range append(names, lost) {
		pids[n] = e.expectOneGuest(t, ns, n)
	}

	phases := e.RecordPhases(t, ns)
	away := e.RestartLibvirtd(t, 3*time.Second, func() { framework.KillProcess(t, pids[lost]) })
	back := time.Now()
	vmi := e.WaitForVMIPhase(t, ns, lost, 15*time.Second, v1alpha1.Failed)
	t.Logf("libvirtd back -> %s, killed while it was down, Failed %s later", lost, time.Since(back).Round(time.Millisecond))
	expectEnded(t, vmi, v1alpha1.Failed, "GuestCrashed", "QEMU process ended without the guest shutting down")
	for _, n := range names {
		e.WaitForVMIPhase(t, ns, n, 60*time.Second, v1alpha1.Running)
	}
	phases.Stop()
	for _, n := range names {
		unknown, reasons := phases.Spent(n, v1alpha1.Unknown)
		t.Logf("%s: Unknown for %s while libvirtd was away %s (seen: %v)", n, unknown.Round(time.Millisecond), away.Round(time.Millisecond), reasons)
		if unknown > away+time.Second {
			t.Errorf("%s was Unknown for %s, longer than libvirtd was away (%s)", n, unknown, away)
		}
		for _, p := range []v1alpha1.VirtualMachineInstancePhase{v1alpha1.Failed, v1alpha1.Succeeded, v1alpha1.Scheduled, v1alpha1.Pending} {
			if phases.Seen(n, p) {
				t.Errorf("%s went %s across the libvirtd restart (%v)", n, p, reasons)
			}
		}
		if pid := e.expectOneGuest(t, ns, n); pid != pids[n] {
			t.Errorf("%s's QEMU is pid %d, was %d: the guest was restarted", n, pid, pids[n])
		}
	}
	e.WaitForLauncherPodsGone(t, ns, lost, 60*time.Second)
	if doms, err := e.NamespaceDomains(ns); err != nil || len(doms) != len(names) {
		t.Errorf("domains of the namespace: %v (%v), want exactly one per running VMI", doms, err)
	}

	// The agent hears libvirt again: a power-off is Succeeded within
	// seconds (its poll alone would take 30 s), a delete shuts down.
	if err := e.ShutdownDomain(domainspec.Name(ns, "lv-c")); err != nil {
		t.Fatal(err)
	}
	vmi = e.WaitForVMIPhase(t, ns, "lv-c", 20*time.Second, v1alpha1.Succeeded)
	t.Logf("libvirtd back -> power-off of lv-c reported Succeeded %s later", time.Since(back).Round(time.Millisecond))
	expectEnded(t, vmi, v1alpha1.Succeeded, "GuestShutdown", "the guest powered off")
	for _, n := range names[:2] {
		e.DeleteVMI(t, ns, n, 90*time.Second)
	}
	for _, n := range append(names, lost) {
		e.ExpectNoLeaks(t, fps[n])
	}
	t.Logf("wall time %s", time.Since(began).Round(time.Second))
}

// TestNodeAgentKilledDuringStarts creates 10 VMIs and kills the node agent
// with SIGKILL once some of them, not all, are Running; the kubelet starts
// it again. All 10 end Running, each with exactly one domain whose QEMU
// never changed (none started twice) and one boot; deleted, none leaves
// anything.
func TestNodeAgentKilledDuringStarts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	began := time.Now()
	ns := e.Namespace(t)
	const count = 10
	var names, doms []string
	for i := range count {
		names = append(names, fmt.Sprintf("burst-%d", i))
		doms = append(doms, domainspec.Name(ns, names[i]))
	}
	pids := framework.SamplePIDs(t, doms)
	fps := map[string]*framework.Footprint{}
	var manifests []string
	for _, n := range names {
		fps[n] = e.Track(t, ns, n)
		manifests = append(manifests, framework.Manifest(t, libvmi.NewTiny(libvmi.WithName(n))))
	}
	applied := time.Now()
	if out, err := e.Kubectl(strings.Join(manifests, "---\n"), "apply", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}

	running := func() (map[string]bool, error) {
		list := &v1alpha1.VirtualMachineInstanceList{}
		if err := e.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		out := map[string]bool{}
		for _, v := range list.Items {
			if v.Status.Phase == v1alpha1.Running {
				out[v.Name] = true
			}
		}
		return out, nil
	}
	var atKill map[string]bool
	framework.Eventually(t, "some of the VMIs Running", 3*time.Minute, func() (bool, error) {
		r, err := running()
		atKill = r
		return len(r) >= 2, err
	})
	if len(atKill) == count {
		t.Fatalf("all %d VMIs were Running before the node agent could be killed: nothing was tested", count)
	}
	agentBefore, err := e.DaemonPID(framework.NodeAgentName)
	if err != nil {
		t.Fatal(err)
	}
	e.KillNodeAgent(t)
	killed := time.Now()
	domsAtKill, _ := e.NamespaceDomains(ns)
	t.Logf("killed the node agent (pid %d) %s after the apply, with %d of %d VMIs Running and %d domains defined (%v)",
		agentBefore, killed.Sub(applied).Round(time.Millisecond), len(atKill), count, len(domsAtKill), domsAtKill)
	t.Logf("node agent back in %s", e.WaitPodvirtReady(t).Round(time.Millisecond))
	if after, err := e.DaemonPID(framework.NodeAgentName); err != nil || after == agentBefore {
		t.Fatalf("the node agent is pid %d (%v), was %d: it was not restarted", after, err, agentBefore)
	}

	framework.Eventually(t, "all VMIs Running", 3*time.Minute, func() (bool, error) {
		r, err := running()
		return len(r) == count, err
	})
	t.Logf("all %d Running %s after the apply, %s after the kill", count, time.Since(applied).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	var wg sync.WaitGroup
	for _, d := range doms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.GuestConsole(t, d)
		}()
	}
	wg.Wait()
	pids.Stop()
	for i, n := range names {
		pid := e.expectOneGuest(t, ns, n)
		if seen := pids.PIDs(doms[i]); len(seen) != 1 || seen[0] != pid {
			t.Errorf("%s: QEMU pids seen %v, want only %d: a domain started twice", n, seen, pid)
		}
	}
	if doms, err := e.NamespaceDomains(ns); err != nil || len(doms) != count {
		keys := make([]string, 0, len(doms))
		for k := range doms {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("domains of the namespace: %v (%v), want exactly one per VMI", keys, err)
	}

	deleted := time.Now()
	if out, err := e.Kubectl("", "delete", "vmi", "--all", "-n", ns, "--timeout=180s"); err != nil {
		t.Fatalf("kubectl delete vmi --all: %v\n%s", err, out)
	}
	for _, n := range names {
		e.WaitForGone(t, "VMI "+n+" gone", 60*time.Second, &v1alpha1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n}})
	}
	t.Logf("kubectl delete of %d VMIs -> all gone in %s", count, time.Since(deleted).Round(time.Millisecond))
	for _, n := range names {
		e.ExpectNoLeaks(t, fps[n])
	}
	t.Logf("wall time %s", time.Since(began).Round(time.Second))
}
