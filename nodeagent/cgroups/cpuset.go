package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ContainerCPUs returns the CPUs the named container of Pod p may run on
// (its cgroup's effective cpuset) and the CPUs of the whole node (the
// root cgroup's). A kubelet whose CPU manager policy is static gives a
// container of a Guaranteed Pod with whole CPUs exactly that many CPUs,
// taken from every other container; with policy none every container may
// run on all of them.
func (c *Cgroups) ContainerCPUs(p *corev1.Pod, container string) (cpus, node []int, err error) {
	rel, err := c.containerPath(p, container)
	if err != nil {
		return nil, nil, err
	}
	var dir, file, nodeFile string
	if _, err := os.Stat(filepath.Join(c.Root, "cgroup.controllers")); err == nil {
		dir, file, nodeFile = filepath.Join(c.Root, rel), "cpuset.cpus.effective", filepath.Join(c.Root, "cpuset.cpus.effective")
	} else {
		dir, file, nodeFile = filepath.Join(c.Root, "cpuset", rel), "cpuset.effective_cpus", filepath.Join(c.Root, "cpuset", "cpuset.effective_cpus")
	}
	if cpus, err = readCPUList(filepath.Join(dir, file)); err != nil {
		return nil, nil, err
	}
	if node, err = readCPUList(nodeFile); err != nil {
		return nil, nil, err
	}
	return cpus, node, nil
}

// containerPath is the cgroup of the named container of Pod p, relative to
// a hierarchy's root.
func (c *Cgroups) containerPath(p *corev1.Pod, container string) (string, error) {
	id := ""
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == container {
			_, id, _ = strings.Cut(s.ContainerID, "://")
		}
	}
	if id == "" || strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
		return "", fmt.Errorf("container %s of Pod %s has no container id yet", container, p.Name)
	}
	return filepath.Join(c.podPath(p), id), nil
}

// ContainerPID returns a process of the named container of Pod p: the
// first in its cgroup (unified, else the memory hierarchy's).
func (c *Cgroups) ContainerPID(p *corev1.Pod, container string) (int, error) {
	rel, err := c.containerPath(p, container)
	if err != nil {
		return 0, err
	}
	for _, dir := range []string{filepath.Join(c.Root, rel), filepath.Join(c.Root, "memory", rel)} {
		raw, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("container %s of Pod %s has no process in its cgroup %s", container, p.Name, rel)
}

func readCPUList(path string) ([]int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the cpuset: %w", err)
	}
	cpus, err := ParseCPUList(string(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("%s: no CPUs", path)
	}
	return cpus, nil
}

// ParseCPUList parses a kernel CPU list ("0-3,8,10-11").
func ParseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("not a CPU list: %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 1<<16 {
				return nil, fmt.Errorf("not a CPU list: %q", s)
			}
		}
		for cpu := a; cpu <= b; cpu++ {
			cpus = append(cpus, cpu)
		}
	}
	return cpus, nil
}

// DefaultCPUTopologyDir is where the kernel describes CPUs.
const DefaultCPUTopologyDir = "/sys/devices/system/cpu"

// SiblingOrder orders cpus so that hyperthreads of one core are
// neighbours, cores in the order of their first thread: vCPUs pinned in
// this order put a guest core's threads on one host core, as KubeVirt's
// CPU pool fits them. A CPU whose siblings cannot be read is a core of
// its own.
func (c *Cgroups) SiblingOrder(cpus []int) []int {
	dir := c.CPUTopologyDir
	if dir == "" {
		dir = DefaultCPUTopologyDir
	}
	in := map[int]bool{}
	for _, cpu := range cpus {
		in[cpu] = true
	}
	sorted := slices.Clone(cpus)
	slices.Sort(sorted)
	done := map[int]bool{}
	var out []int
	for _, cpu := range sorted {
		if done[cpu] {
			continue
		}
		siblings, err := readCPUList(filepath.Join(dir, "cpu"+strconv.Itoa(cpu), "topology", "thread_siblings_list"))
		if err != nil || !slices.Contains(siblings, cpu) {
			siblings = []int{cpu}
		}
		for _, s := range siblings {
			if in[s] && !done[s] {
				done[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}
