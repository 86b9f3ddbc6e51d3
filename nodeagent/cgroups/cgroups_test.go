package cgroups

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPlaceV1(t *testing.T) {
	root := t.TempDir()
	p := &corev1.Pod{}
	p.UID, p.Status.QOSClass = "u-1", corev1.PodQOSBurstable
	for _, h := range []string{"memory", "cpu", "pids"} {
		dir := filepath.Join(root, h, "kubepods", "burstable", "podu-1")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "cgroup.procs"), nil, 0o644)
	}
	os.MkdirAll(filepath.Join(root, "freezer"), 0o755) // no Pod cgroup there: skipped
	placed, err := (&Cgroups{Root: root}).Place(p, 4242)
	if err != nil {
		t.Fatal(err)
	}
	if len(placed) != 3 {
		t.Errorf("placed in %v, want memory, cpu and pids", placed)
	}
	got, _ := os.ReadFile(filepath.Join(root, "memory", "kubepods", "burstable", "podu-1", "cgroup.procs"))
	if string(got) != "4242" {
		t.Errorf("cgroup.procs = %q", got)
	}
}

func TestPlaceGuaranteedV2(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory"), 0o644)
	dir := filepath.Join(root, "kubepods", "podu-2")
	os.MkdirAll(dir, 0o755)
	p := &corev1.Pod{}
	p.UID, p.Status.QOSClass = "u-2", corev1.PodQOSGuaranteed
	if _, err := (&Cgroups{Root: root}).Place(p, 7); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); string(got) != "7" {
		t.Errorf("cgroup.procs = %q", got)
	}
}

func TestPlaceWithoutPodCgroup(t *testing.T) {
	p := &corev1.Pod{}
	p.UID, p.Status.QOSClass = "u-3", corev1.PodQOSBurstable
	if _, err := (&Cgroups{Root: t.TempDir()}).Place(p, 1); err == nil {
		t.Fatal("placed a process with no Pod cgroup to place it in")
	}
}
