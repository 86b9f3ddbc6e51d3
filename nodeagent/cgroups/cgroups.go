// Package cgroups knows the kubelet's cgroupfs layout: it finds a launcher
// Pod's processes, moves a guest's QEMU into the Pod's cgroup, and reads
// the cpuset a container was given (for dedicated CPUs). It imports
// nothing of podvirt's.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Cgroups moves a guest's QEMU process into its launcher Pod's cgroup, so
// the kubelet's limits, eviction and metrics see what the VM really uses:
// a VM's cost is its Pod's cost. It knows the kubelet's cgroupfs layout
// (<kubepods>/[burstable|besteffort/]pod<uid>), on cgroup v1 (one
// hierarchy per controller) and v2 (unified).
type Cgroups struct {
	// Root is where the cgroup hierarchies are mounted (/sys/fs/cgroup).
	Root string
	// Kubepods is the kubelet's top cgroup, "kubepods" by default.
	Kubepods string
	// CPUTopologyDir is where the kernel describes CPUs
	// (DefaultCPUTopologyDir when empty).
	CPUTopologyDir string
}

// podPath is the Pod's cgroup path below a hierarchy.
func (c *Cgroups) podPath(p *corev1.Pod) string {
	kubepods := c.Kubepods
	if kubepods == "" {
		kubepods = "kubepods"
	}
	parts := []string{kubepods}
	switch p.Status.QOSClass {
	case corev1.PodQOSBurstable:
		parts = append(parts, "burstable")
	case corev1.PodQOSBestEffort:
		parts = append(parts, "besteffort")
	}
	return filepath.Join(append(parts, "pod"+string(p.UID))...)
}

// Place moves pid into the Pod's cgroup in every hierarchy where the Pod
// has one, and returns those hierarchies. It is idempotent.
func (c *Cgroups) Place(p *corev1.Pod, pid int) ([]string, error) {
	if p.Status.QOSClass == "" {
		return nil, errors.New("the Pod has no QoS class yet")
	}
	rel := c.podPath(p)
	hierarchies, err := c.hierarchies()
	if err != nil {
		return nil, err
	}
	var placed []string
	for _, h := range hierarchies {
		dir := filepath.Join(h, rel)
		if _, err := os.Stat(dir); err != nil {
			continue // this controller is not used for Pods here
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return placed, fmt.Errorf("moving QEMU (pid %d) into %s: %w", pid, dir, err)
		}
		placed = append(placed, filepath.Base(h))
	}
	if len(placed) == 0 {
		return nil, fmt.Errorf("no cgroup %s under %s: is the kubelet's cgroup driver cgroupfs?", rel, c.Root)
	}
	return placed, nil
}

// hierarchies returns the cgroup hierarchies under Root: Root itself for
// cgroup v2, one per controller for v1.
func (c *Cgroups) hierarchies() ([]string, error) { return c.listHierarchies(false) }

// listHierarchies is hierarchies with, when named is set and on cgroup v1,
// the named and hybrid ones too (systemd, unified): libvirt makes its
// cgroups in those as well.
func (c *Cgroups) listHierarchies(named bool) ([]string, error) {
	if _, err := os.Stat(filepath.Join(c.Root, "cgroup.controllers")); err == nil {
		return []string{c.Root}, nil
	}
	entries, err := os.ReadDir(c.Root)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", c.Root, err)
	}
	var hierarchies []string
	for _, e := range entries {
		if e.IsDir() && (named || e.Name() != "unified" && e.Name() != "systemd") {
			hierarchies = append(hierarchies, filepath.Join(c.Root, e.Name()))
		}
	}
	return hierarchies, nil
}

// PodProcesses returns the processes of the Pod's containers (the
// cgroups below the Pod's), in every hierarchy.
func (c *Cgroups) PodProcesses(p *corev1.Pod) []int {
	hierarchies, err := c.hierarchies()
	if err != nil {
		return nil
	}
	var pids []int
	for _, h := range hierarchies {
		files, _ := filepath.Glob(filepath.Join(h, c.podPath(p), "*", "cgroup.procs"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, field := range strings.Fields(string(raw)) {
				if pid, err := strconv.Atoi(field); err == nil {
					pids = append(pids, pid)
				}
			}
		}
	}
	return pids
}

// InPod reports whether pid's memory cgroup (v1) or unified cgroup (v2)
// is the Pod's.
func (c *Cgroups) InPod(p *corev1.Pod, pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return false
	}
	want := "/" + c.podPath(p)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && (f[1] == "memory" || f[0] == "0" && f[1] == "") && f[2] == want {
			return true
		}
	}
	return false
}

// QEMU moves a domain's QEMU process into its launcher Pod's cgroup, so
// the kubelet's limits, eviction and metrics see what the VM really uses.
type QEMU struct {
	Cgroups *Cgroups
	// LibvirtRunDir is where libvirt writes QEMU's pid files
	// (/var/run/libvirt/qemu).
	LibvirtRunDir string
}

// PlaceQEMU moves the domain's QEMU into the Pod's cgroups unless it is
// there already (after a node agent restart it usually is), and returns
// the hierarchies it moved it in (none when it was there).
func (q *QEMU) PlaceQEMU(p *corev1.Pod, domName string) (pid int, placed []string, err error) {
	pid, err = qemuPID(q.LibvirtRunDir, domName)
	if err != nil {
		return 0, nil, err
	}
	if q.Cgroups.InPod(p, pid) {
		return pid, nil, nil
	}
	placed, err = q.Cgroups.Place(p, pid)
	return pid, placed, err
}

// QEMUPID reads the pid libvirt recorded for the running domain.
func (q *QEMU) QEMUPID(domName string) (int, error) { return qemuPID(q.LibvirtRunDir, domName) }

// qemuPID reads the pid libvirt recorded for a running domain.
func qemuPID(runDir, domName string) (int, error) {
	data, err := os.ReadFile(filepath.Join(runDir, domName+".pid"))
	if err != nil {
		return 0, fmt.Errorf("reading the QEMU pid of %s: %w", domName, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("the QEMU pid file of %s: %w", domName, err)
	}
	return pid, nil
}
