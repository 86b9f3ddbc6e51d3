package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// libvirt's QEMU driver, on the cgroupfs backend, gives each domain it
// starts the cgroup machine/<machine name>.libvirt-qemu in every
// hierarchy, and removes it when the domain stops, but only if it still
// knows it: a libvirtd restarted while the domain ran looks for the
// domain's QEMU in that cgroup, and the agent has moved it into the
// launcher Pod's, so the restarted libvirtd never finds it and leaves the
// cgroup behind when the domain stops. RemoveLibvirtCgroups removes what
// is left.

// libvirtCgroupDir matches the name of a domain's cgroup directory,
// capturing the domain's id and the rest of its machine name.
var libvirtCgroupDir = regexp.MustCompile(`^qemu-([0-9]+)-.*\.libvirt-qemu$`)

// hostnameChars are the characters libvirt keeps of a domain's name in
// its machine name.
const hostnameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"

// LibvirtMachineName is the machine name libvirt's (system) QEMU driver
// gives domain domName when it starts it with id, as
// virDomainDriverGenerateMachineName makes it: "qemu-<id>-" and the
// name's hostname characters, '.' and '-' runs kept as one and never
// first or last, cut at 64 bytes.
func LibvirtMachineName(id int, domName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "qemu-%d-", id)
	skip := true
	for i := 0; i < len(domName) && b.Len() < 64; i++ {
		ch := domName[i]
		if ch == '.' || ch == '-' {
			if !skip {
				b.WriteByte(ch)
			}
			skip = true
			continue
		}
		skip = false
		if strings.IndexByte(hostnameChars, ch) >= 0 {
			b.WriteByte(ch)
		}
	}
	return strings.TrimRight(b.String(), "-.")
}

// RemoveLibvirtCgroups removes, in every hierarchy, the cgroups libvirt
// made for domains named domName (any id), with their sub-cgroups
// (emulator, vcpuN), and returns the directories it removed. Call it
// only once no domain of that name is defined: libvirt's cgroup of a
// running domain is empty too once its QEMU is in the launcher Pod's, and
// would go. A cgroup that still has a process stays (the kernel refuses
// to remove it) and is reported in the error.
func (c *Cgroups) RemoveLibvirtCgroups(domName string) ([]string, error) {
	hierarchies, err := c.listHierarchies(true)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, h := range hierarchies {
		parent := filepath.Join(h, "machine")
		entries, err := os.ReadDir(parent)
		if err != nil {
			continue // no libvirt cgroups in this hierarchy
		}
		for _, en := range entries {
			m := libvirtCgroupDir.FindStringSubmatch(en.Name())
			if m == nil || !en.IsDir() {
				continue
			}
			id, err := strconv.Atoi(m[1])
			if err != nil || en.Name() != LibvirtMachineName(id, domName)+".libvirt-qemu" {
				continue
			}
			dir := filepath.Join(parent, en.Name())
			if err := removeCgroupTree(dir); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, dir)
		}
	}
	return removed, errors.Join(errs...)
}

// removeCgroupTree removes a cgroup directory and the cgroups below it,
// deepest first (a cgroup's control files go with its directory).
func removeCgroupTree(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing cgroup %s: %w", dir, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("removing libvirt's cgroup %s: %w", dirs[i], err)
		}
	}
	return nil
}

// RemoveLibvirtCgroups removes what libvirt left of the domain's cgroups
// (Cgroups.RemoveLibvirtCgroups).
func (q *QEMU) RemoveLibvirtCgroups(domName string) ([]string, error) {
	return q.Cgroups.RemoveLibvirtCgroups(domName)
}
