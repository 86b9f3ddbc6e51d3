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

// TestNodeAgentRestartKeepsGuests kills the node agent with SIGKILL while
// two guests run, powers one of them off while no agent watches, and
// restarts the agent: the other guest keeps running in the same QEMU
// process without a reboot, the powered-off one's VMI ends Succeeded (the
// agent catches up on what it missed), and the survivor can still be
// deleted.
func TestNodeAgentRestartKeepsGuests(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
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

	e.KillDaemon(t, "podvirt-nodeagent")
	if err := e.ShutdownDomain(offline); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, "the offline guest powered off", 60*time.Second, func() (bool, error) {
		state, err := e.DomainState(offline)
		return state == framework.StateShutoff || state == framework.StateAbsent, err
	})
	t.Logf("node agent restarted in %s", e.RestartDaemons(t).Round(time.Millisecond))

	// The VMI of the guest powered off while the agent was down Succeeds.
	vmi := e.WaitForVMIPhase(t, ns, "offline", 60*time.Second, v1alpha1.Succeeded)
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "survivor"}, vmi); err != nil || vmi.Status.Phase != v1alpha1.Running {
		t.Errorf("survivor: phase %s, %v; want Running", vmi.Status.Phase, err)
	}
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
