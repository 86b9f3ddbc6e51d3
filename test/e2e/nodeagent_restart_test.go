//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
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
	ns := e.namespace(t)
	for _, name := range []string{"survivor", "offline"} {
		if out, err := e.kubectlRun(tinyGuest(name), "apply", "-n", ns, "-f", "-"); err != nil {
			t.Fatalf("kubectl apply %s: %v\n%s", name, err, out)
		}
	}
	survivor, offline := domainspec.Name(ns, "survivor"), domainspec.Name(ns, "offline")
	guestConsole(t, e, survivor)
	guestConsole(t, e, offline)
	pidBefore, err := os.ReadFile("/var/run/libvirt/qemu/" + survivor + ".pid")
	if err != nil {
		t.Fatal(err)
	}

	e.killDaemon(t, "podvirt-nodeagent")
	if err := e.libvirt.Shutdown(offline); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the offline guest powered off", 60*time.Second, func() (bool, error) {
		state, err := e.libvirt.State(offline)
		return state == hypervisor.StateShutoff || state == hypervisor.StateAbsent, err
	})
	restart := time.Now()
	if out, err := exec.Command("../../test/local/up.sh", "--no-example").CombinedOutput(); err != nil {
		t.Fatalf("restarting the node agent: %v\n%s", err, out)
	}
	logf(t, "node agent restarted in %s", time.Since(restart).Round(time.Millisecond))

	vmi := &v1alpha1.VirtualMachineInstance{}
	eventually(t, "the VMI of the guest powered off while the agent was down Succeeded", 60*time.Second, func() (bool, error) {
		err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "offline"}, vmi)
		return err == nil && vmi.Status.Phase == v1alpha1.Succeeded, err
	})
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "survivor"}, vmi); err != nil || vmi.Status.Phase != v1alpha1.Running {
		t.Errorf("survivor: phase %s, %v; want Running", vmi.Status.Phase, err)
	}
	pidAfter, err := os.ReadFile("/var/run/libvirt/qemu/" + survivor + ".pid")
	if err != nil || string(pidAfter) != string(pidBefore) {
		t.Errorf("QEMU pid %q before the restart, %q (%v) after: the guest must keep its process", pidBefore, pidAfter, err)
	}
	serial, err := os.ReadFile(e.serialLog(t, survivor))
	if n := strings.Count(string(serial), "PODVIRT-GUEST-READY"); err != nil || n != 1 {
		t.Errorf("the survivor booted %d times (%v), want once", n, err)
	}

	if out, err := e.kubectlRun("", "delete", "-n", ns, "vmi", "survivor", "--timeout=120s"); err != nil {
		t.Fatalf("kubectl delete: %v\n%s", err, out)
	}
	eventually(t, "survivor gone", 60*time.Second, func() (bool, error) {
		err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "survivor"}, &v1alpha1.VirtualMachineInstance{})
		return apierrors.IsNotFound(err), err
	})
	if state, err := e.libvirt.State(survivor); err != nil || state != hypervisor.StateAbsent {
		t.Errorf("domain %s state %v, %v; want Absent", survivor, state, err)
	}
}
