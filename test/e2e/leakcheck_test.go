//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
)

// TestLeakCheckerNamesWhatIsLeft leaves on the node, by hand, what a VMI
// that never existed could have left (a guest's tap on the host, a host
// iptables rule naming its veth, the node agent's directory, a libvirt
// cgroup) and checks the leak checker names each thing, and nothing once
// they are removed: a checker that finds nothing must be able to.
func TestLeakCheckerNamesWhatIsLeft(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	fp := e.Track(t, ns, "ghost")
	dom := domainspec.Name(ns, "ghost")
	links := framework.PodNetworkLinks(dom)
	ctx := context.Background()

	var undo []func()
	clean := func() {
		for _, u := range undo {
			u()
		}
		undo = nil
	}
	t.Cleanup(clean)
	framework.Run(t, "ip", "link", "add", links[0], "type", "bridge")
	undo = append(undo, func() { _ = runQuiet("ip", "link", "del", links[0]) })
	// A chain of its own, that no packet goes through.
	const chain = "PODVIRT-E2E-LEAKCHECK"
	framework.Run(t, "iptables", "-t", "filter", "-N", chain)
	undo = append(undo, func() {
		_ = runQuiet("iptables", "-t", "filter", "-F", chain)
		_ = runQuiet("iptables", "-t", "filter", "-X", chain)
	})
	framework.Run(t, "iptables", "-t", "filter", "-A", chain, "-i", links[1], "-j", "RETURN")
	fp.AssumeUID("0e2e0000-0000-4000-8000-00000000ghost")
	dir := e.VMIDir("0e2e0000-0000-4000-8000-00000000ghost")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	undo = append(undo, func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "disk.img"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"host link " + links[0],
		"host iptables rule is left: -t filter -A " + chain + " -i " + links[1],
		"the node agent's directory " + dir + " is left, holding disk.img",
	}
	// libvirt's cgroup, where this node has libvirt's machine partition.
	if parts, _ := filepath.Glob(filepath.Join(framework.CgroupRoot, "*", "machine")); len(parts) > 0 {
		cg := filepath.Join(parts[0], "qemu-999-"+strings.ReplaceAll(dom, "_", "")+".libvirt-qemu")
		if err := os.Mkdir(cg, 0o755); err != nil {
			t.Fatal(err)
		}
		undo = append(undo, func() { os.Remove(cg) })
		want = append(want, "libvirt's cgroup "+cg)
	}

	leaks := e.Leaks(ctx, fp)
	for _, w := range want {
		found := false
		for _, l := range leaks {
			found = found || strings.Contains(l, w)
		}
		if !found {
			t.Errorf("the leak checker did not name %q; it found:\n  %s", w, strings.Join(leaks, "\n  "))
		}
	}
	if len(leaks) != len(want) {
		t.Errorf("the leak checker found %d things, %d were left:\n  %s", len(leaks), len(want), strings.Join(leaks, "\n  "))
	}
	t.Logf("found:\n  %s", strings.Join(leaks, "\n  "))

	clean()
	if leaks := e.Leaks(ctx, fp); len(leaks) > 0 {
		t.Errorf("the leak checker still finds, after the cleanup:\n  %s", strings.Join(leaks, "\n  "))
	}
}

func runQuiet(name string, args ...string) error {
	return exec.Command(name, args...).Run()
}
