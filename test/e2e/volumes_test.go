//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// hostDiskDir is the local node agent's --host-disk-dirs (deploy/local)
// and the allowed-host-disk-dirs VMIPolicy's default directory.
const hostDiskDir = "/var/lib/podvirt-hostdisks"

// TestPersistentVolumeClaimDiskPersists is issue #12's PVC proof, as a
// namespace editor with nothing but the edit role (and VMIs): the VMI is
// applied before its claim, as manifests often order them, and waits
// Pending with KubeVirt's Synchronized=False FailedPvcNotFound; the claim
// (local-path, dynamically provisioned where the launcher Pod lands) gets
// a disk.img made to fit it; the guest writes a marker to that disk; the
// VMI is deleted; a second VMI on the same claim reads the marker back;
// a third, with the claim as an ephemeral volume, overwrites it and
// leaves the claim as it was.
func TestPersistentVolumeClaimDiskPersists(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	e.editor(t, ns, "alice")
	ctl := e.podvirtctl(t)
	ctx := context.Background()

	first := libvmi.NewTiny(libvmi.WithName("writer"), libvmi.WithPersistentVolumeClaim("data", "data"))
	footprint := e.Track(t, ns, "writer")
	e.Apply(t, ns, first, "--as", "alice")
	framework.Eventually(t, "the VMI to wait for its claim", 30*time.Second, func() (bool, error) {
		vmi := e.VMI(t, ns, "writer")
		c := meta.FindStatusCondition(vmi.Status.Conditions, v1alpha1.ConditionSynchronized)
		return vmi.Status.Phase == v1alpha1.Pending && c != nil && c.Status == metav1.ConditionFalse && c.Reason == "FailedPvcNotFound" &&
			strings.Contains(c.Message, "data"), nil
	})
	claim := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
		},
	}
	e.Apply(t, ns, claim, "--as", "alice")
	e.WaitForVMIPhase(t, ns, "writer", 3*time.Minute, v1alpha1.Running)
	if c := meta.FindStatusCondition(e.VMI(t, ns, "writer").Status.Conditions, v1alpha1.ConditionSynchronized); c != nil {
		t.Errorf("the Synchronized condition stayed once the Pod was made: %+v", c)
	}
	e.GuestConsole(t, domainspec.Name(ns, "writer"))

	disk := claimDiskOnHost(t, e, ns, "data")
	live, err := os.ReadFile(filepath.Join(framework.LibvirtRunDir, domainspec.Name(ns, "writer")+".xml"))
	if err != nil || !strings.Contains(string(live), fmt.Sprintf("<source file='%s'", disk)) {
		t.Errorf("the running domain does not use the claim's disk.img %s (%v):\n%s", disk, err, live)
	}
	fi, err := os.Stat(disk)
	if err != nil {
		t.Fatalf("the claim's disk.img on the host: %v", err)
	}
	// 64 MiB less KubeVirt's 5.5% filesystem overhead, in whole MiB.
	if want := int64(64<<20) / 1000 * 945 &^ (1<<20 - 1); fi.Size() != want {
		t.Errorf("disk.img is %d bytes, want %d", fi.Size(), want)
	}
	s := e.startConsole(t, ctl, ns, "alice", "writer")
	// The guest computes the marker, so the echo of the typed line does
	// not hold it; conv=fsync puts it on the disk before the guest says so.
	s.typeUntil(t, "printf 'PODVIRT-PVC-%s\\n' $((6*7)) | dd of=/dev/vda conv=fsync 2>/dev/null && echo PVC-WRITTEN-$((3*5))\n", "PVC-WRITTEN-15", 90*time.Second)
	s.escape(t)
	e.DeleteVMI(t, ns, "writer", 2*time.Minute)
	e.ExpectNoLeaks(t, footprint)
	if head, err := fileStart(disk, 15); err != nil || head != "PODVIRT-PVC-42\n" {
		t.Fatalf("disk.img after the first VMI starts %q (%v), want the guest's marker", head, err)
	}

	footprint = e.Track(t, ns, "reader")
	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName("reader"), libvmi.WithPersistentVolumeClaim("data", "data")), "--as", "alice")
	e.WaitForVMIPhase(t, ns, "reader", 3*time.Minute, v1alpha1.Running)
	e.GuestConsole(t, domainspec.Name(ns, "reader"))
	s = e.startConsole(t, ctl, ns, "alice", "reader")
	s.typeUntil(t, "head -c 15 /dev/vda | tr P Q\n", "QODVIRT-QVC-42", 90*time.Second)
	s.escape(t)
	p := &corev1.Pod{}
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: domainspec.PodName("reader")}, p); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range p.Spec.Volumes {
		found = found || v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "data"
	}
	if !found {
		t.Errorf("the launcher Pod does not use the claim as a volume: %+v", p.Spec.Volumes)
	}
	e.DeleteVMI(t, ns, "reader", 2*time.Minute)
	e.ExpectNoLeaks(t, footprint)

	// An ephemeral volume on the same claim: the guest reads the claim's
	// marker and overwrites it, in an overlay that goes with the VMI.
	footprint = e.Track(t, ns, "scratch")
	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName("scratch"), libvmi.WithEphemeralClaim("data", "data")), "--as", "alice")
	e.WaitForVMIPhase(t, ns, "scratch", 3*time.Minute, v1alpha1.Running)
	e.GuestConsole(t, domainspec.Name(ns, "scratch"))
	s = e.startConsole(t, ctl, ns, "alice", "scratch")
	s.typeUntil(t, "head -c 15 /dev/vda | tr P Q\n", "QODVIRT-QVC-42", 90*time.Second)
	s.typeUntil(t, "printf 'SCRATCH-%s' $((2*4)) | dd of=/dev/vda conv=fsync 2>/dev/null; head -c 9 /dev/vda | tr S Z\n", "ZCRATCH-8", 90*time.Second)
	s.escape(t)
	e.DeleteVMI(t, ns, "scratch", 2*time.Minute)
	e.ExpectNoLeaks(t, footprint)
	if head, err := fileStart(disk, 15); err != nil || head != "PODVIRT-PVC-42\n" {
		t.Errorf("the ephemeral VMI's writes reached the claim's disk.img (%v): it starts %q", err, head)
	}
}

// TestBlockClaimIsTheDisk is the block-mode half of the PVC convention:
// the claim's device is the guest's disk, with no disk.img. The volume is
// a local PersistentVolume in Block mode on a loop device over a file on
// the node (what a CSI driver's raw block volume looks like to the
// kubelet); the kubelet maps it into the launcher Pod, the node agent
// finds the host device behind that mapping and the domain gets it as a
// block disk; the guest's marker lands in the file behind the device.
func TestBlockClaimIsTheDisk(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	e.editor(t, ns, "alice")
	ctl := e.podvirtctl(t)
	ctx := context.Background()

	backing := filepath.Join(t.TempDir(), "block.img")
	if err := os.WriteFile(backing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(backing, 32<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", backing).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v\n%s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "--detach", dev).Run() })
	class := "podvirt-e2e-block-" + ns
	block := corev1.PersistentVolumeBlock
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: class},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("32Mi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			VolumeMode:                    &block,
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dev}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{e.Node}}},
			}}}},
		},
	}
	if err := e.Client.Create(ctx, pv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Client.Delete(context.Background(), pv) })
	claim := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: "raw", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			VolumeMode:       &block,
			StorageClassName: &class,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("32Mi")}},
		},
	}
	e.Apply(t, ns, claim, "--as", "alice")

	footprint := e.Track(t, ns, "raw")
	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName("raw"), libvmi.WithPersistentVolumeClaim("data", "raw")), "--as", "alice")
	e.WaitForVMIPhase(t, ns, "raw", 3*time.Minute, v1alpha1.Running)
	e.GuestConsole(t, domainspec.Name(ns, "raw"))
	live, err := os.ReadFile(filepath.Join(framework.LibvirtRunDir, domainspec.Name(ns, "raw")+".xml"))
	if err != nil || !strings.Contains(string(live), fmt.Sprintf("<source dev='%s'", dev)) {
		t.Errorf("the running domain does not use the claim's device %s (%v):\n%s", dev, err, live)
	}
	p := &corev1.Pod{}
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: domainspec.PodName("raw")}, p); err != nil {
		t.Fatal(err)
	}
	mapped := false
	for _, c := range p.Spec.Containers {
		for _, d := range c.VolumeDevices {
			mapped = mapped || d.Name == "data"
		}
	}
	if !mapped {
		t.Errorf("the launcher Pod does not map the claim as a device: %+v", p.Spec.Containers)
	}
	s := e.startConsole(t, ctl, ns, "alice", "raw")
	s.typeUntil(t, "printf 'PODVIRT-BLK-%s\\n' $((6*7)) | dd of=/dev/vda conv=fsync 2>/dev/null && echo BLK-WRITTEN-$((3*5))\n", "BLK-WRITTEN-15", 90*time.Second)
	s.escape(t)
	e.DeleteVMI(t, ns, "raw", 2*time.Minute)
	e.ExpectNoLeaks(t, footprint)
	if head, err := fileStart(backing, 15); err != nil || head != "PODVIRT-BLK-42\n" {
		t.Errorf("the file behind the claim's device starts %q (%v), want the guest's marker", head, err)
	}
}

// fileStart is the first n bytes of the file at path.
func fileStart(path string, n int) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, n)
	_, err = f.ReadAt(head, 0)
	return string(head), err
}

// hostDiskNamespace is a namespace that allows hostDisks (labelled
// podvirt.io/host-disk=allowed), and a symbolic link in the node agent's
// allowed directory to a directory outside it (outside), which admission
// cannot see through.
func (e *env) hostDiskNamespace(t *testing.T) (ns, link, outside string) {
	t.Helper()
	ctx := context.Background()
	ns = e.Namespace(t)
	nsObj := &corev1.Namespace{}
	if err := e.Client.Get(ctx, types.NamespacedName{Name: ns}, nsObj); err != nil {
		t.Fatal(err)
	}
	nsObj.Labels = map[string]string{"podvirt.io/host-disk": "allowed"}
	if err := e.Client.Update(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	outside = t.TempDir()
	link = filepath.Join(hostDiskDir, ns+"-link")
	if err := os.MkdirAll(hostDiskDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(link) })
	return ns, link, outside
}

// withHostDisk is the tiny guest with a 16 MiB DiskOrCreate hostDisk at
// path.
func withHostDisk(name, path string) *v1alpha1.VirtualMachineInstance {
	return libvmi.NewTiny(libvmi.WithName(name), libvmi.WithDisk("host", v1alpha1.Volume{HostDisk: &v1alpha1.HostDisk{
		Path: path, Type: v1alpha1.HostDiskExistsOrCreate, Capacity: resource.NewQuantity(16<<20, resource.BinarySI)}}))
}

// claimDiskOnHost is the host path of the claim's disk.img: its
// PersistentVolume's directory (local-path makes hostPath volumes).
func claimDiskOnHost(t *testing.T, e *env, ns, claim string) string {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{}
	if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: claim}, pvc); err != nil {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{}
	if err := e.Client.Get(context.Background(), types.NamespacedName{Name: pvc.Spec.VolumeName}, pv); err != nil {
		t.Fatalf("the claim's volume: %v", err)
	}
	switch {
	case pv.Spec.HostPath != nil:
		return filepath.Join(pv.Spec.HostPath.Path, domainspec.ClaimDiskFile)
	case pv.Spec.Local != nil:
		return filepath.Join(pv.Spec.Local.Path, domainspec.ClaimDiskFile)
	}
	t.Fatalf("volume %s is neither hostPath nor local", pv.Name)
	return ""
}

// TestHostDiskOnlyInsideAllowedDirs: a hostDisk is refused at admission
// outside the namespaces that allow hostDisks (deny-host-disk) and, in
// those, outside the listed directories (allowed-host-disk-dirs); inside,
// DiskOrCreate makes the image and the guest gets it. A path that passes
// admission but leads elsewhere on the node (a symbolic link in the
// allowed directory) is refused again by the node agent, and nothing is
// made where the link points.
func TestHostDiskOnlyInsideAllowedDirs(t *testing.T) {
	e := newEnv(t)
	plain := e.Namespace(t)
	ns, link, outside := e.hostDiskNamespace(t)
	dir := filepath.Join(hostDiskDir, ns)
	t.Cleanup(func() { os.RemoveAll(dir) })

	for _, c := range []struct{ ns, path, want string }{
		{plain, filepath.Join(dir, "a.img"), "hostDisk volumes are not allowed: host (" + filepath.Join(dir, "a.img") + ")"},
		{ns, "/var/lib/elsewhere/a.img", "hostDisk images must be inside " + hostDiskDir + "/: host (/var/lib/elsewhere/a.img)"},
	} {
		out, err := e.Kubectl(framework.Manifest(t, withHostDisk("refused", c.path)), "apply", "-n", c.ns, "-f", "-")
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("hostDisk %s in %s: %v\n%s\nwant %q", c.path, c.ns, err, out, c.want)
		}
	}

	footprint := e.Track(t, ns, "inside")
	e.Apply(t, ns, withHostDisk("inside", filepath.Join(dir, "a.img")))
	e.WaitForVMIPhase(t, ns, "inside", 3*time.Minute, v1alpha1.Running)
	e.GuestConsole(t, domainspec.Name(ns, "inside"))
	if fi, err := os.Stat(filepath.Join(dir, "a.img")); err != nil || fi.Size() != 16<<20 {
		t.Errorf("the hostDisk image: %v %v, want 16 MiB", fi, err)
	}
	live, err := os.ReadFile(filepath.Join(framework.LibvirtRunDir, domainspec.Name(ns, "inside")+".xml"))
	if err != nil || !strings.Contains(string(live), fmt.Sprintf("<source file='%s'", filepath.Join(dir, "a.img"))) {
		t.Errorf("the running domain does not use the image (%v):\n%s", err, live)
	}
	e.DeleteVMI(t, ns, "inside", 2*time.Minute)
	e.ExpectNoLeaks(t, footprint)

	footprint = e.Track(t, ns, "linked")
	e.Apply(t, ns, withHostDisk("linked", filepath.Join(link, "a.img")))
	vmi := e.WaitForVMIPhase(t, ns, "linked", 2*time.Minute, v1alpha1.Failed)
	if vmi.Status.Reason != "DomainRefused" {
		t.Errorf("a hostDisk through a symbolic link failed %q, want DomainRefused", vmi.Status.Reason)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("the node agent made %v where the link points", entries)
	}
	e.DeleteVMI(t, ns, "linked", 2*time.Minute)
	e.ExpectNoLeaks(t, footprint)
}
