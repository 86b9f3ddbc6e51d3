package nodeagent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

func TestCollectorRemovesOrphansAfterGrace(t *testing.T) {
	r, c, hv := setup(t, v1alpha1.Running, hypervisor.StateRunning) // ns_tiny is uid-1's, and its Pod exists
	hv.states["ns_gone"], hv.owners["ns_gone"] = hypervisor.StateRunning, "uid-gone"
	hv.states["other_vm"], hv.owners["other_vm"] = hypervisor.StateRunning, "" // not podvirt's
	// A directory an older agent named by domain is not this one's.
	legacy := filepath.Join(r.Options.StateDir, "vmis", "ns_legacy")
	if err := os.MkdirAll(legacy, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, uid := range []string{"uid-1", "uid-gone", "uid-stray"} {
		if err := os.MkdirAll(mustVMIDir(t, r, uid), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Unix(1000, 0)
	gc := &Collector{Reconciler: r, Grace: 30 * time.Second, now: func() time.Time { return now }}
	if err := gc.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Join(hv.calls, ",") != "shutdown" {
		t.Errorf("first pass: calls %v, want one ACPI shutdown of the orphan", hv.calls)
	}
	now = now.Add(31 * time.Second)
	if err := gc.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := hv.states["ns_gone"]; ok {
		t.Error("the orphaned domain is still defined after its grace")
	}
	if _, ok := hv.states["ns_tiny"]; !ok {
		t.Error("the domain of a live launcher Pod was removed")
	}
	if _, ok := hv.states["other_vm"]; !ok {
		t.Error("a domain podvirt did not define was removed")
	}
	if _, err := os.Stat(legacy); err != nil {
		t.Errorf("a directory not named by a UID was removed: %v", err)
	}
	for uid, want := range map[string]bool{"uid-1": true, "uid-gone": false, "uid-stray": false} {
		_, err := os.Stat(mustVMIDir(t, r, uid))
		if exists := err == nil; exists != want {
			t.Errorf("directory of %s exists=%v, want %v", uid, exists, want)
		}
	}

	// The launcher Pod goes: its domain is next, after its grace.
	p := &corev1.Pod{}
	_ = c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p)
	p.Finalizers = nil
	_ = c.Update(context.Background(), p)
	if err := c.Delete(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	_ = gc.Collect(context.Background())
	if _, ok := hv.states["ns_tiny"]; !ok {
		t.Error("removed before its grace")
	}
	now = now.Add(31 * time.Second)
	_ = gc.Collect(context.Background())
	if _, ok := hv.states["ns_tiny"]; ok {
		t.Error("a domain whose Pod is gone outlived its grace")
	}
	if _, err := os.Stat(filepath.Join(r.Options.StateDir, "vmis", "uid-1")); !os.IsNotExist(err) {
		t.Errorf("its directory: %v", err)
	}
}

func mustVMIDir(t *testing.T, r *Reconciler, uid string) string {
	t.Helper()
	dir, err := r.vmiDir(uid)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVMIDirRefusesWhatIsNotAUID(t *testing.T) {
	r := &Reconciler{Options: Options{StateDir: "/state"}}
	for _, bad := range []string{"", "ns_name", "..", ".", "a/b"} {
		if dir, err := r.vmiDir(bad); err == nil {
			t.Errorf("vmiDir(%q) = %q, want an error", bad, dir)
		}
	}
}
