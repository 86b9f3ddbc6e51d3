package nodeagent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/nodeagent/failure"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
	"github.com/podvirt/podvirt/nodeagent/storage"
)

// pausingHypervisor is a fakeHypervisor that starts domains paused.
type pausingHypervisor struct {
	*fakeHypervisor
	paused map[string]hypervisor.Pause
}

func (h *pausingHypervisor) StartPaused(n string) error {
	h.calls = append(h.calls, "start-paused")
	h.states[n], h.paused[n] = hypervisor.StateRunning, hypervisor.PausedHeld
	return nil
}
func (h *pausingHypervisor) Resume(n string) error {
	h.calls = append(h.calls, "resume")
	h.paused[n] = hypervisor.NotPaused
	return nil
}
func (h *pausingHypervisor) Paused(n string) (hypervisor.Pause, error) { return h.paused[n], nil }

// thisProcess is a QEMU whose pid is the test's own.
type thisProcess struct{}

func (thisProcess) PlaceQEMU(*corev1.Pod, string) (int, []string, error) {
	return os.Getpid(), nil, nil
}
func (thisProcess) QEMUPID(string) (int, error) { return os.Getpid(), nil }
func (thisProcess) RemoveLibvirtCgroups(string) ([]string, error) {
	return nil, nil
}

// A domain with volume disks starts paused and runs only once QEMU holds
// the very files the agent checked; otherwise it is destroyed before the
// guest runs, Refused. Without volume disks it just starts.
func TestStartChecksWhatQEMUHolds(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(disk, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(disk) // what "QEMU" (this process) holds
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Stat(disk, &st); err != nil {
		t.Fatal(err)
	}
	held := storage.FileID{Dev: uint64(st.Dev), Ino: st.Ino}
	for _, c := range []struct {
		name  string
		disks map[string]storage.FileID
		calls []string
		err   error
	}{
		{"no volume disks", nil, []string{"start"}, nil},
		{"the checked file", map[string]storage.FileID{disk: held}, []string{"start-paused", "resume"}, nil},
		{"another file", map[string]storage.FileID{disk: {Dev: held.Dev, Ino: held.Ino + 1<<40}}, []string{"start-paused", "destroy"}, failure.ErrRefused},
	} {
		hv := &pausingHypervisor{fakeHypervisor: &fakeHypervisor{states: map[string]hypervisor.DomainState{}}, paused: map[string]hypervisor.Pause{}}
		r := &Reconciler{Hypervisor: hv, QEMU: thisProcess{}}
		err := r.start(context.Background(), &corev1.Pod{}, "ns_tiny", c.disks)
		if c.err == nil && err != nil || c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
		}
		if !slices.Equal(hv.calls, c.calls) {
			t.Errorf("%s: calls %v, want %v", c.name, hv.calls, c.calls)
		}
	}
}

// An agent restarted while libvirt still starts a domain (libvirt runs
// every QEMU paused until its start is done) waits for that start: it
// neither adopts the domain, which may yet stay paused, nor destroys a
// guest about to run. A domain held paused by an earlier agent's
// StartPaused, never resumed, is destroyed and started again.
func TestRestartedAgentWaitsForAStartInFlight(t *testing.T) {
	r, c, hv := setup(t, v1alpha1.Scheduled, hypervisor.StateRunning)
	ph := &pausingHypervisor{fakeHypervisor: hv, paused: map[string]hypervisor.Pause{"ns_tiny": hypervisor.PausedStartingUp}}
	r.Hypervisor = ph
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}}
	res, err := r.Reconcile(context.Background(), req)
	if err != nil || res.RequeueAfter <= 0 {
		t.Errorf("starting up: result %+v, %v; want a requeue", res, err)
	}
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "tiny"}, vmi); err != nil {
		t.Fatal(err)
	}
	if vmi.Status.Phase != v1alpha1.Scheduled || len(hv.calls) != 0 {
		t.Errorf("starting up: phase %s, calls %v; want Scheduled and libvirt untouched", vmi.Status.Phase, hv.calls)
	}
	ph.paused["ns_tiny"] = hypervisor.NotPaused
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != v1alpha1.Running || len(hv.calls) != 0 {
		t.Errorf("once started: phase %s, calls %v; want Running, adopted untouched", vmi.Status.Phase, hv.calls)
	}

	r, c, hv = setup(t, v1alpha1.Scheduled, hypervisor.StateRunning)
	r.Hypervisor = &pausingHypervisor{fakeHypervisor: hv, paused: map[string]hypervisor.Pause{"ns_tiny": hypervisor.PausedHeld}}
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase == v1alpha1.Running || !slices.Equal(hv.calls, []string{"destroy"}) {
		t.Errorf("held paused: phase %s, calls %v; want not Running, destroyed", vmi.Status.Phase, hv.calls)
	}
}
