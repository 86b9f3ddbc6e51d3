package framework

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

func TestManifestIsWhatAUserWrites(t *testing.T) {
	vmi := libvmi.NewTiny(libvmi.WithNamespace("ns"))
	m := Manifest(t, vmi)
	for _, unwanted := range []string{"status", "creationTimestamp"} {
		if strings.Contains(m, unwanted) {
			t.Errorf("manifest has %s:\n%s", unwanted, m)
		}
	}
	back := &v1alpha1.VirtualMachineInstance{}
	if err := yaml.UnmarshalStrict([]byte(m), back); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(vmi, back) {
		t.Errorf("the manifest does not read back as the VMI:\n%s", m)
	}
	if _, err := ManifestOf("not an object"); err == nil {
		t.Error("a string made a manifest")
	}
}

func TestEventuallyKeepsTheLastError(t *testing.T) {
	n := 0
	err := eventually(t.Context(), time.Second, func() (bool, error) {
		n++
		return n == 3, errors.New("not yet")
	})
	if err != nil || n != 3 {
		t.Errorf("eventually = %v after %d calls, want nil after 3", err, n)
	}
	err = eventually(t.Context(), 300*time.Millisecond, func() (bool, error) { return false, errors.New("never") })
	if err == nil || !strings.Contains(err.Error(), "never") {
		t.Errorf("eventually = %v, want the last error", err)
	}
}

func TestPodNetworkLinks(t *testing.T) {
	got := PodNetworkLinks("default_tiny")
	// sha256("default_tiny") starts with the same 10 digits in each.
	if len(got) != 3 || got[0][:3] != "pvt" || got[1][:3] != "pvh" || got[2][:3] != "pvb" || got[0][3:] != got[1][3:] || got[0][3:] != got[2][3:] || len(got[0]) != 13 {
		t.Errorf("links %v", got)
	}
}

// TestFileAndCgroupLeaks points the checker's host paths at a fake tree.
func TestFileAndCgroupLeaks(t *testing.T) {
	root := t.TempDir()
	defer func(r, l, c string) { LibvirtRunDir, LibvirtLibDir, CgroupRoot = r, l, c }(LibvirtRunDir, LibvirtLibDir, CgroupRoot)
	LibvirtRunDir, LibvirtLibDir, CgroupRoot = filepath.Join(root, "run"), filepath.Join(root, "lib"), filepath.Join(root, "cg")
	const dom = "e2e-abc123_tiny"
	for _, p := range []string{
		"run/" + dom + ".pid", "run/" + dom + ".xml", "run/e2e-abc123_tiny2.pid",
		"lib/nvram/" + dom + "_VARS.fd", "lib/domain-3-" + dom + "/master-key.aes", "lib/domain-4-e2e-abc123_tiny2/x",
		"cg/memory/kubepods/burstable/pod1234/cgroup.procs", "cg/cpu/kubepods/pod1234/cgroup.procs",
		"cg/memory/machine/qemu-3-e2e-abc123tiny.libvirt-qemu/cgroup.procs",
		"cg/memory/machine/qemu-4-e2e-abc123tiny2.libvirt-qemu/cgroup.procs",
	} {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rel := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			r, _ := filepath.Rel(root, p)
			out = append(out, r)
		}
		return out
	}
	if got, want := rel(libvirtFiles(dom)), []string{"run/" + dom + ".pid", "run/" + dom + ".xml", "lib/nvram/" + dom + "_VARS.fd", "lib/domain-3-" + dom}; !reflect.DeepEqual(got, want) {
		t.Errorf("libvirt files %v, want %v", got, want)
	}
	if got, want := rel(podCgroups("1234")), []string{"cg/cpu/kubepods/pod1234", "cg/memory/kubepods/burstable/pod1234"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pod cgroups %v, want %v", got, want)
	}
	if got, want := rel(libvirtCgroups(dom)), []string{"cg/memory/machine/qemu-3-e2e-abc123tiny.libvirt-qemu"}; !reflect.DeepEqual(got, want) {
		t.Errorf("libvirt cgroups %v, want %v", got, want)
	}
	if got := summarize(listTree(filepath.Join(root, "lib"))); got != "domain-3-"+dom+"/, domain-3-"+dom+"/master-key.aes, domain-4-e2e-abc123_tiny2/, domain-4-e2e-abc123_tiny2/x, nvram/, nvram/"+dom+"_VARS.fd" {
		t.Errorf("summary %q", got)
	}
	if listTree(filepath.Join(root, "nothing")) != nil {
		t.Error("a missing directory listed")
	}
}

// TestDHCPSockets finds a DHCP server's socket in a process by copying its
// descriptors: here its own, bound to port 67 on lo (root only).
func TestDHCPSockets(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("binding port 67 and SO_BINDTODEVICE need root")
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "lo"); err != nil {
		t.Skipf("SO_BINDTODEVICE: %v", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 67}); err != nil {
		t.Skipf("port 67: %v", err)
	}
	socks, err := dhcpSockets(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 1 || socks[0].fd != fd || socks[0].iface != "lo" || socks[0].netnsCookie == 0 ||
		socks[0].netnsInode != netnsInode("/proc/self/ns/net") || socks[0].inode == 0 {
		t.Errorf("DHCP sockets %+v, want fd %d on lo in this process's namespace", socks, fd)
	}
}
