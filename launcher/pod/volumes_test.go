package pod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// Claims and host disks are the Pod's volumes, so the kubelet sets them
// up and whatever judges Pods judges them: a filesystem claim mounted
// read-only (its size annotated), a block claim as a device, a hostDisk's
// directory as a hostPath volume.
func TestClaimAndHostDiskVolumes(t *testing.T) {
	v := vmi()
	v.Spec.Volumes = []v1alpha1.Volume{
		{Name: "fs", PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: "c-fs"}},
		{Name: "blk", PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: "c-blk", ReadOnly: true}},
		{Name: "host", HostDisk: &v1alpha1.HostDisk{Path: "/var/lib/vm-disks/a/h.img", Type: v1alpha1.HostDiskExistsOrCreate, Capacity: resource.NewQuantity(1<<30, resource.BinarySI)}},
	}
	p, err := RenderWithClaims(v, "<domain/>", map[string]Claim{"c-fs": {Bytes: 5 << 30}, "c-blk": {Block: true, Bytes: 1 << 30}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	vols := map[string]corev1.Volume{}
	for _, vol := range p.Spec.Volumes {
		vols[vol.Name] = vol
	}
	if c := vols["fs"].PersistentVolumeClaim; c == nil || c.ClaimName != "c-fs" || c.ReadOnly {
		t.Errorf("fs volume: %+v", vols["fs"])
	}
	if c := vols["blk"].PersistentVolumeClaim; c == nil || c.ClaimName != "c-blk" || !c.ReadOnly {
		t.Errorf("blk volume: %+v", vols["blk"])
	}
	if h := vols["host"].HostPath; h == nil || h.Path != "/var/lib/vm-disks/a" || h.Type == nil || *h.Type != corev1.HostPathDirectoryOrCreate {
		t.Errorf("host volume: %+v", vols["host"])
	}
	c := p.Spec.Containers[0]
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	if m := mounts["fs"]; m.MountPath != domainspec.ClaimMountDir+"/fs" || !m.ReadOnly {
		t.Errorf("fs mount: %+v", m)
	}
	if m := mounts["host"]; m.MountPath != domainspec.HostDiskMountDir+"/host" || !m.ReadOnly {
		t.Errorf("host mount: %+v", m)
	}
	if _, ok := mounts["blk"]; ok || len(c.VolumeDevices) != 1 || c.VolumeDevices[0].Name != "blk" || c.VolumeDevices[0].DevicePath != domainspec.ClaimDeviceDir+"/blk" {
		t.Errorf("blk: mount %v, devices %+v", ok, c.VolumeDevices)
	}
	if got := p.Annotations[domainspec.AnnotationClaimBytes]; got != `{"fs":5368709120}` {
		t.Errorf("claim sizes %q", got)
	}
	// Claims and host disks count nothing in the Pod's ephemeral storage.
	if got := c.Resources.Limits[corev1.ResourceEphemeralStorage]; got.Value() != serial+base {
		t.Errorf("ephemeral storage %s, want the serial log's and the launcher's only", got.String())
	}
}

func TestVolumeNamedLikeTheStateVolume(t *testing.T) {
	v := vmi()
	v.Spec.Volumes = []v1alpha1.Volume{{Name: domainspec.StateVolume, PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}}
	if _, err := Render(v, "", Options{}); err == nil {
		t.Error("a claim volume named like the state volume was rendered")
	}
}
