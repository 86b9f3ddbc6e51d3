//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// TestNodeAgentRestartKeepsGuests takes the node agent off the node (its
// DaemonSet's Pod goes) while two guests run, powers one of them off while
// no agent watches, and brings the agent back: the other guest keeps running in the same QEMU
// process without a reboot, the powered-off one's VMI ends Succeeded (the
// agent catches up on what it missed), and the survivor can still be
// deleted.
func TestNodeAgentRestartKeepsGuests(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	footprints := map[string]*framework.Footprint{}
	for _, name := range []string{"survivor", "offline"} {
		footprints[name] = e.Track(t, ns, name)
		e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName(name)))
	}
	survivor, offline := domainspec.Name(ns, "survivor"), domainspec.Name(ns, "offline")
	e.GuestConsole(t, survivor)
	e.GuestConsole(t, offline)
	pidFile := filepath.Join(framework.LibvirtRunDir, survivor+".pid")
	pidBefore, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}

	e.StopNodeAgent(t)
	if err := e.ShutdownDomain(offline); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, "the offline guest powered off", 60*time.Second, func() (bool, error) {
		state, err := e.DomainState(offline)
		return state == framework.StateShutoff || state == framework.StateAbsent, err
	})
	t.Logf("node agent back in %s", e.StartNodeAgent(t).Round(time.Millisecond))

	// The VMI of the guest powered off while the agent was down Succeeds.
	// Both went Unknown if the agent was away longer than its heartbeat
	// Lease (framework.NodeLeaseDuration); the survivor is Running again
	// once the agent has looked at it, which may come just after.
	e.WaitForVMIPhase(t, ns, "offline", 60*time.Second, v1alpha1.Succeeded)
	e.WaitForVMIPhase(t, ns, "survivor", 30*time.Second, v1alpha1.Running)
	pidAfter, err := os.ReadFile(pidFile)
	if err != nil || string(pidAfter) != string(pidBefore) {
		t.Errorf("QEMU pid %q before the restart, %q (%v) after: the guest must keep its process", pidBefore, pidAfter, err)
	}
	serial, err := e.Console(survivor)
	if n := strings.Count(serial, framework.ReadyMarker); err != nil || n != 1 {
		t.Errorf("the survivor booted %d times (%v), want once", n, err)
	}

	if out, err := e.Kubectl("", "delete", "-n", ns, "vmi", "survivor", "--timeout=120s"); err != nil {
		t.Fatalf("kubectl delete: %v\n%s", err, out)
	}
	e.WaitForGone(t, "survivor gone", 60*time.Second, libvmi.New(libvmi.WithNamespace(ns), libvmi.WithName("survivor")))
	if state, err := e.DomainState(survivor); err != nil || state != framework.StateAbsent {
		t.Errorf("domain %s state %v, %v; want Absent", survivor, state, err)
	}
	// Neither guest leaves anything: not the one an agent restarted on
	// adopted, nor the one that ended while no agent watched.
	e.ExpectNoLeaks(t, footprints["survivor"])
	e.ExpectNoLeaks(t, footprints["offline"])
}

// TestNodeAgentPodReplacedAdoptsGuests replaces the node agent's Pod while
// three guests run, twice: `kubectl delete pod` (the DaemonSet makes a new
// Pod) and SIGKILL of its process (the kubelet restarts the container).
// Each time the new agent adopts the guests: the same QEMU processes, each
// guest booted once, every VMI still Running.
func TestNodeAgentPodReplacedAdoptsGuests(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)
	names := []string{"adopt-a", "adopt-b", "adopt-c"}
	footprints := map[string]*framework.Footprint{}
	for _, name := range names {
		footprints[name] = e.Track(t, ns, name)
		e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName(name)))
	}
	qemuPIDs := map[string]string{}
	for _, name := range names {
		dom := domainspec.Name(ns, name)
		e.GuestConsole(t, dom)
		pid, err := os.ReadFile(filepath.Join(framework.LibvirtRunDir, dom+".pid"))
		if err != nil {
			t.Fatal(err)
		}
		qemuPIDs[name] = string(pid)
	}
	replace := map[string]func(){
		"kubectl delete pod": func() {
			if out, err := e.Kubectl("", "-n", framework.PodvirtNamespace, "delete", "pod", "-l", "app.kubernetes.io/name="+framework.NodeAgentName, "--wait=true"); err != nil {
				t.Fatalf("deleting the node agent Pod: %v\n%s", err, out)
			}
		},
		"kill -9": func() { e.KillNodeAgent(t) },
	}
	for _, how := range []string{"kubectl delete pod", "kill -9"} {
		before, err := e.DaemonPID(framework.NodeAgentName)
		if err != nil {
			t.Fatal(err)
		}
		replace[how]()
		t.Logf("%s: node agent back in %s", how, e.WaitPodvirtReady(t).Round(time.Millisecond))
		if after, err := e.DaemonPID(framework.NodeAgentName); err != nil || after == before {
			t.Fatalf("%s: the node agent is pid %d (%v), was %d: it was not replaced", how, after, err, before)
		}
		// Give the new agent a resync over the running domains.
		time.Sleep(3 * time.Second)
		for _, name := range names {
			dom := domainspec.Name(ns, name)
			pid, err := os.ReadFile(filepath.Join(framework.LibvirtRunDir, dom+".pid"))
			if err != nil || string(pid) != qemuPIDs[name] {
				t.Errorf("%s: %s's QEMU is pid %q (%v), was %q: the guest must keep its process", how, name, pid, err, qemuPIDs[name])
			}
			serial, err := e.Console(dom)
			if n := strings.Count(serial, framework.ReadyMarker); err != nil || n != 1 {
				t.Errorf("%s: %s booted %d times (%v), want once", how, name, n, err)
			}
			vmi := &v1alpha1.VirtualMachineInstance{}
			if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, vmi); err != nil || vmi.Status.Phase != v1alpha1.Running {
				t.Errorf("%s: %s phase %q (%v), want Running", how, name, vmi.Status.Phase, err)
			}
		}
	}
	for _, name := range names {
		if out, err := e.Kubectl("", "delete", "-n", ns, "vmi", name, "--timeout=120s"); err != nil {
			t.Fatalf("kubectl delete: %v\n%s", err, out)
		}
	}
	for _, name := range names {
		e.ExpectNoLeaks(t, footprints[name])
	}
}
