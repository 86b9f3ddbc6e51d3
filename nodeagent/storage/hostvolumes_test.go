package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/failure"
)

// fakeHost is a host whose root is a temporary directory: one filesystem
// (the temporary directory's, mounted at /), a launcher container (pid 42)
// that has a claim's directory mounted at the claim mount point.
func fakeHost(t *testing.T, claimDir string) *HostVolumes {
	t.Helper()
	root := t.TempDir()
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil {
		t.Fatal(err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	proc := t.TempDir()
	if err := os.MkdirAll(filepath.Join(proc, "42"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The host's mount table: root's filesystem at /, its directory root
	// being the host's root (a chroot of sorts).
	write(t, filepath.Join(proc, "host-mountinfo"), fmt.Sprintf("27 1 %s %s / rw - ext4 /dev/vda rw\n", dev, root))
	write(t, filepath.Join(proc, "42", "mountinfo"), fmt.Sprintf("600 500 0:99 / / ro - overlay overlay rw\n601 600 %s %s %s/data ro - ext4 /dev/vda rw\n", dev, filepath.Join(root, claimDir), domainspec.ClaimMountDir))
	if err := os.MkdirAll(filepath.Join(root, claimDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "hostdisks"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &HostVolumes{
		HostRoot: root, HostMountInfo: filepath.Join(proc, "host-mountinfo"), Proc: proc,
		LauncherPID:  func(*corev1.Pod) (int, error) { return 42, nil },
		HostDiskDirs: []string{"/hostdisks"},
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func claimPod(annotation string) *corev1.Pod {
	p := launcherPod(1 << 30)
	p.Annotations = map[string]string{}
	if annotation != "" {
		p.Annotations[domainspec.AnnotationClaimBytes] = annotation
	}
	return p
}

// A claim's disk.img is made to fit the claim (its size less KubeVirt's
// 5.5% filesystem overhead, in whole MiB), kept on the next start with
// what the guest wrote, and given to the domain at its path on the host.
func TestClaimDiskMadeToFitAndKept(t *testing.T) {
	h := fakeHost(t, "pvs/pvc-1")
	vs := &Volumes{Host: h, FreeBytes: freeBytes(1 << 30)}
	md := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{{Name: "data", Kind: domainspec.VolumePVC, ClaimName: "c"}}}
	out, err := vs.Prepare(context.Background(), claimPod(`{"data":104857600}`), md, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := "/pvs/pvc-1/disk.img"
	if got := out.DiskFiles[domainspec.DiskFile("data")]; got != want || len(out.VolumeDisks) != 1 || out.VolumeDisks[0] != want {
		t.Fatalf("disk files %v, volume disks %v; want %s", out.DiskFiles, out.VolumeDisks, want)
	}
	onDisk := filepath.Join(h.HostRoot, want)
	fi, err := os.Stat(onDisk)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 94<<20 {
		t.Errorf("disk.img is %d bytes, want 94 MiB (100 MiB less 5.5%%, in whole MiB)", fi.Size())
	}
	if err := os.WriteFile(onDisk, []byte("the guest's data"), 0o660); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.Prepare(context.Background(), claimPod(`{"data":104857600}`), md, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(onDisk); string(got) != "the guest's data" {
		t.Errorf("the second start changed disk.img: %q", got)
	}
	var st unix.Stat_t
	if err := unix.Stat(onDisk, &st); err != nil {
		t.Fatal(err)
	}
	if id := out.VolumeIDs[want]; id.Ino != st.Ino {
		t.Errorf("recorded inode %d, the file's %d", id.Ino, st.Ino)
	}
}

// Every Pod that mounts a claim can write it: a disk.img that is a
// symbolic link (to a host file) is refused, never followed; so is a
// directory. A read-only claim without disk.img is an error, not a new
// file.
func TestClaimDiskRefusals(t *testing.T) {
	h := fakeHost(t, "pvs/pvc-1")
	vs := &Volumes{Host: h, FreeBytes: freeBytes(1 << 30)}
	md := func(ro bool) *domainspec.Metadata {
		return &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{{Name: "data", Kind: domainspec.VolumePVC, ClaimName: "c", ReadOnly: ro}}}
	}
	if _, err := vs.Prepare(context.Background(), claimPod(""), md(true), t.TempDir()); err == nil {
		t.Error("a read-only claim without disk.img was prepared")
	}
	secret := filepath.Join(h.HostRoot, "secret")
	write(t, secret, "host secret")
	disk := filepath.Join(h.HostRoot, "pvs/pvc-1/disk.img")
	if err := os.Symlink("/secret", disk); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.Prepare(context.Background(), claimPod(""), md(false), t.TempDir()); !errors.Is(err, failure.ErrRefused) {
		t.Errorf("disk.img a symlink: %v, want ErrRefused", err)
	}
	os.Remove(disk)
	if err := os.Mkdir(disk, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.Prepare(context.Background(), claimPod(""), md(false), t.TempDir()); !errors.Is(err, failure.ErrRefused) {
		t.Errorf("disk.img a directory: %v, want ErrRefused", err)
	}
	if got, _ := os.ReadFile(secret); string(got) != "host secret" {
		t.Errorf("the host file changed: %q", got)
	}
	// No HostVolumes: Unsupported.
	if _, err := (&Volumes{FreeBytes: freeBytes(1 << 30)}).Prepare(context.Background(), claimPod(""), md(false), t.TempDir()); !errors.Is(err, failure.ErrUnsupported) {
		t.Errorf("without HostVolumes: %v, want ErrUnsupported", err)
	}
}

// A hostDisk only inside the agent's --host-disk-dirs: made when
// DiskOrCreate, required when Disk, refused outside (a sibling directory
// sharing the prefix included) or through a symbolic link.
func TestHostDisk(t *testing.T) {
	h := fakeHost(t, "pvs/pvc-1")
	vs := &Volumes{Host: h, FreeBytes: freeBytes(1 << 30)}
	prepare := func(v domainspec.VolumeMetadata) (Prepared, error) {
		v.Name, v.Kind = "host", domainspec.VolumeHostDisk
		return vs.Prepare(context.Background(), claimPod(""), &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{v}}, t.TempDir())
	}
	out, err := prepare(domainspec.VolumeMetadata{Path: "/hostdisks/a.img", Create: true, CapacityBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(h.HostRoot, "hostdisks/a.img")); err != nil || fi.Size() != 8<<20 || out.DiskFiles[domainspec.DiskFile("host")] != "/hostdisks/a.img" {
		t.Errorf("DiskOrCreate: %v %v %v", fi, err, out.DiskFiles)
	}
	if _, err := prepare(domainspec.VolumeMetadata{Path: "/hostdisks/missing.img"}); err == nil {
		t.Error("type Disk without the image was prepared")
	}
	if err := os.MkdirAll(filepath.Join(h.HostRoot, "hostdisks-evil"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/hostdisks-evil/a.img", "/etc/a.img", "/hostdisks", "/hostdisks/../etc/a.img"} {
		if _, err := prepare(domainspec.VolumeMetadata{Path: p, Create: true, CapacityBytes: 1 << 20}); !errors.Is(err, failure.ErrRefused) {
			t.Errorf("%s: %v, want ErrRefused", p, err)
		}
	}
	if err := os.Symlink("/etc", filepath.Join(h.HostRoot, "hostdisks/link")); err != nil {
		t.Fatal(err)
	}
	if _, err := prepare(domainspec.VolumeMetadata{Path: "/hostdisks/link/a.img", Create: true, CapacityBytes: 1 << 20}); !errors.Is(err, failure.ErrRefused) {
		t.Errorf("through a symlink: %v, want ErrRefused", err)
	}
}

// VerifyOpen finds the checked files among a process's open files by
// device and inode: a file swapped in under the same name is not one.
func TestVerifyOpen(t *testing.T) {
	dir := t.TempDir()
	checked := filepath.Join(dir, "disk.img")
	write(t, checked, "checked")
	f, err := os.Open(checked)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Stat(checked, &st); err != nil {
		t.Fatal(err)
	}
	id := FileID{Dev: uint64(st.Dev), Ino: st.Ino}
	if err := VerifyOpen("/proc", os.Getpid(), map[string]FileID{checked: id}); err != nil {
		t.Errorf("the open file: %v", err)
	}
	swapped := FileID{Dev: id.Dev, Ino: id.Ino + 1<<40}
	if err := VerifyOpen("/proc", os.Getpid(), map[string]FileID{checked: swapped}); !errors.Is(err, failure.ErrRefused) {
		t.Errorf("a file the process does not hold: %v, want ErrRefused", err)
	}
}

// A block device is held whatever node QEMU opened it through: libvirt
// makes QEMU its own /dev, with a node of its own for each disk device
// (here a second node of loop0, made by the test), so the agent knows the
// device by its number.
func TestVerifyOpenKnowsADeviceByItsNumber(t *testing.T) {
	node := filepath.Join(t.TempDir(), "loop0")
	dev := unix.Mkdev(7, 0)
	if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(dev)); err != nil {
		t.Fatalf("making a block device node (the unit tests run as root, as the node agent does): %v", err)
	}
	f, err := os.Open(node)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := VerifyOpen("/proc", os.Getpid(), map[string]FileID{"/dev/loop0": {Rdev: dev}}); err != nil {
		t.Errorf("the device open through another node: %v", err)
	}
	if err := VerifyOpen("/proc", os.Getpid(), map[string]FileID{"/dev/loop1": {Rdev: unix.Mkdev(7, 1)}}); !errors.Is(err, failure.ErrRefused) {
		t.Errorf("a device the process does not hold: %v, want ErrRefused", err)
	}
}

func TestRootOf(t *testing.T) {
	h := &HostVolumes{HostRoot: "/host", KubeletRootDir: "/var/lib/kubelet"}
	for path, want := range map[string]string{
		"/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/pv/mount/disk.img": "/",
		"/var/lib/kubelet-other/disk.img":                                     "/host",
		"/opt/local-path/pvc-1/disk.img":                                      "/host",
	} {
		if got := h.rootOf(path); got != want {
			t.Errorf("rootOf(%s) = %s, want %s", path, got, want)
		}
	}
}

// An ephemeral volume is a qcow2 overlay in the VMI's directory over its
// claim's disk.img, which is only read: the overlay goes with the VMI.
func TestEphemeralOverlayOverTheClaim(t *testing.T) {
	h := fakeHost(t, "pvs/pvc-1")
	disk := filepath.Join(h.HostRoot, "pvs/pvc-1/disk.img")
	write(t, disk, "the claim's disk")
	vs := &Volumes{Host: h, FreeBytes: freeBytes(1 << 30)}
	md := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{{Name: "data", Kind: domainspec.VolumeEphemeral, ClaimName: "c", ReadOnly: true}}}
	dir := t.TempDir()
	out, err := vs.Prepare(context.Background(), claimPod(""), md, dir)
	if err != nil {
		t.Fatal(err)
	}
	name := domainspec.DiskFile("data")
	if out.Formats[name] != "qcow2" || out.Backings[name] != (domainspec.DiskBacking{File: "/pvs/pvc-1/disk.img", Format: "raw"}) {
		t.Errorf("formats %v backings %v", out.Formats, out.Backings)
	}
	if len(out.VolumeDisks) != 1 || out.VolumeDisks[0] != "/pvs/pvc-1/disk.img" || out.DiskFiles[name] != "" {
		t.Errorf("volume disks %v, disk files %v: the backing file only", out.VolumeDisks, out.DiskFiles)
	}
	if err := checkOverlay(filepath.Join(dir, name), "/pvs/pvc-1/disk.img"); err != nil {
		t.Errorf("the overlay: %v", err)
	}
	if got, _ := os.ReadFile(disk); string(got) != "the claim's disk" {
		t.Errorf("the claim's disk changed: %q", got)
	}
	// A second start keeps the overlay (and what the guest wrote to it).
	if _, err := vs.Prepare(context.Background(), claimPod(""), md, dir); err != nil {
		t.Errorf("the second start: %v", err)
	}
	os.Remove(disk)
	if _, err := vs.Prepare(context.Background(), claimPod(""), md, t.TempDir()); err == nil {
		t.Error("an ephemeral volume over a claim without disk.img was prepared")
	}
}
