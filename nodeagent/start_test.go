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

	"github.com/podvirt/podvirt/nodeagent/failure"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
	"github.com/podvirt/podvirt/nodeagent/storage"
)

// pausingHypervisor is a fakeHypervisor that starts domains paused.
type pausingHypervisor struct {
	*fakeHypervisor
	paused map[string]bool
}

func (h *pausingHypervisor) StartPaused(n string) error {
	h.calls = append(h.calls, "start-paused")
	h.states[n], h.paused[n] = hypervisor.StateRunning, true
	return nil
}
func (h *pausingHypervisor) Resume(n string) error {
	h.calls = append(h.calls, "resume")
	h.paused[n] = false
	return nil
}
func (h *pausingHypervisor) Paused(n string) (bool, error) { return h.paused[n], nil }

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
		hv := &pausingHypervisor{fakeHypervisor: &fakeHypervisor{states: map[string]hypervisor.DomainState{}}, paused: map[string]bool{}}
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
