package cgroups

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestLibvirtMachineName(t *testing.T) {
	long := "ns_" + strings.Repeat("abcdefghij", 7)
	for _, tc := range []struct {
		id   int
		dom  string
		want string
	}{
		{5, "e2e-xmlj5l_lv-a", "qemu-5-e2e-xmlj5llv-a"},
		{1, "default_tiny", "qemu-1-defaulttiny"},
		{12, "ns_a--b..c", "qemu-12-nsa-b.c"},
		{3, "-ns_x-", "qemu-3-nsx"},
		// Cut at 64 bytes, the prefix included.
		{7, long, ("qemu-7-ns" + strings.Repeat("abcdefghij", 7))[:64]},
	} {
		if got := LibvirtMachineName(tc.id, tc.dom); got != tc.want {
			t.Errorf("LibvirtMachineName(%d, %q) = %q, want %q", tc.id, tc.dom, got, tc.want)
		}
	}
}

// What libvirt left of a domain's cgroups goes, in every hierarchy (the
// named and hybrid ones too), sub-cgroups first; other domains' stay,
// those of a name that merely starts alike included.
func TestRemoveLibvirtCgroups(t *testing.T) {
	root := t.TempDir()
	mine := []string{
		"memory/machine/qemu-5-nsvm.libvirt-qemu",
		"cpu/machine/qemu-5-nsvm.libvirt-qemu/vcpu0",
		"cpu/machine/qemu-5-nsvm.libvirt-qemu/emulator",
		"unified/machine/qemu-9-nsvm.libvirt-qemu/emulator",
	}
	others := []string{
		"memory/machine/qemu-6-nsvm2.libvirt-qemu",
		"memory/machine/qemu-1-defaulttiny.libvirt-qemu",
		"memory/kubepods/podabc",
	}
	for _, d := range append(append([]string{}, mine...), others...) {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := (&Cgroups{Root: root}).RemoveLibvirtCgroups("ns_vm")
	if err != nil {
		t.Fatal(err)
	}
	for i := range removed {
		removed[i], _ = filepath.Rel(root, removed[i])
	}
	sort.Strings(removed)
	want := []string{"cpu/machine/qemu-5-nsvm.libvirt-qemu", "memory/machine/qemu-5-nsvm.libvirt-qemu", "unified/machine/qemu-9-nsvm.libvirt-qemu"}
	if strings.Join(removed, " ") != strings.Join(want, " ") {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, d := range want {
		if _, err := os.Stat(filepath.Join(root, d)); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", d, err)
		}
	}
	for _, d := range others {
		if _, err := os.Stat(filepath.Join(root, d)); err != nil {
			t.Errorf("%s, not the domain's, was removed: %v", d, err)
		}
	}
	if removed, err := (&Cgroups{Root: root}).RemoveLibvirtCgroups("ns_vm"); err != nil || len(removed) != 0 {
		t.Errorf("a second pass removed %v (%v), want nothing", removed, err)
	}
}

// A cgroup the kernel will not remove (here: a directory with a file in
// it, as a cgroup with a process is busy) is reported, not skipped
// silently.
func TestRemoveLibvirtCgroupsReportsWhatStays(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "memory/machine/qemu-2-nsvm.libvirt-qemu")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "busy"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Cgroups{Root: root}).RemoveLibvirtCgroups("ns_vm"); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("error %v, want one naming %s", err, dir)
	}
}
