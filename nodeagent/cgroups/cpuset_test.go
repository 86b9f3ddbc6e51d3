package cgroups

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func launcherPod(qos corev1.PodQOSClass) *corev1.Pod {
	p := &corev1.Pod{}
	p.Name, p.UID, p.Status.QOSClass = "virt-launcher-x", "u-9", qos
	p.Status.ContainerStatuses = []corev1.ContainerStatus{
		{Name: "other", ContainerID: "containerd://ffff"},
		{Name: "launcher", ContainerID: "containerd://abc123"},
	}
	return p
}

func TestContainerCPUsV2(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "cgroup.controllers"), "cpuset cpu memory")
	write(t, filepath.Join(root, "cpuset.cpus.effective"), "0-7\n")
	write(t, filepath.Join(root, "kubepods", "podu-9", "abc123", "cpuset.cpus.effective"), "2-3,6\n")
	cpus, node, err := (&Cgroups{Root: root}).ContainerCPUs(launcherPod(corev1.PodQOSGuaranteed), "launcher")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cpus, []int{2, 3, 6}) || len(node) != 8 {
		t.Errorf("cpus %v node %v", cpus, node)
	}
}

func TestContainerCPUsV1(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "cpuset", "cpuset.effective_cpus"), "0-3")
	write(t, filepath.Join(root, "cpuset", "kubepods", "burstable", "podu-9", "abc123", "cpuset.effective_cpus"), "0-3")
	cpus, node, err := (&Cgroups{Root: root}).ContainerCPUs(launcherPod(corev1.PodQOSBurstable), "launcher")
	if err != nil || !slices.Equal(cpus, node) {
		t.Errorf("cpus %v node %v, %v", cpus, node, err)
	}
}

func TestContainerCPUsWithoutContainer(t *testing.T) {
	p := launcherPod(corev1.PodQOSGuaranteed)
	p.Status.ContainerStatuses = nil
	if _, _, err := (&Cgroups{Root: t.TempDir()}).ContainerCPUs(p, "launcher"); err == nil {
		t.Error("CPUs of a container that has not started")
	}
	p = launcherPod(corev1.PodQOSGuaranteed)
	p.Status.ContainerStatuses[1].ContainerID = "containerd://../../etc"
	if _, _, err := (&Cgroups{Root: t.TempDir()}).ContainerCPUs(p, "launcher"); err == nil {
		t.Error("a container id that climbs")
	}
}

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{"": nil, "0": {0}, "0-2,5\n": {0, 1, 2, 5}, "7-7": {7}} {
		got, err := ParseCPUList(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"a", "3-1", "-1", "1,,2", "^1"} {
		if _, err := ParseCPUList(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Hyperthreads of a core end up next to each other.
func TestSiblingOrder(t *testing.T) {
	dir := t.TempDir()
	// Cores {0,4} {1,5} {2,6} {3,7}.
	for cpu := 0; cpu < 8; cpu++ {
		core := cpu % 4
		write(t, filepath.Join(dir, "cpu"+string(rune('0'+cpu)), "topology", "thread_siblings_list"),
			string(rune('0'+core))+","+string(rune('0'+core+4))+"\n")
	}
	c := &Cgroups{CPUTopologyDir: dir}
	if got := c.SiblingOrder([]int{5, 1, 2, 6, 3}); !slices.Equal(got, []int{1, 5, 2, 6, 3}) {
		t.Errorf("order %v, want 1 5 2 6 3", got)
	}
	// Unreadable topology: ascending.
	c = &Cgroups{CPUTopologyDir: t.TempDir()}
	if got := c.SiblingOrder([]int{3, 1, 2}); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("order %v", got)
	}
}
