package domain

import (
	"encoding/base64"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// cloudInitNoCloud documents travel in the signed metadata, base64-encoded
// whichever way they were given, so binary user data and text that XML
// cannot carry survive.
func TestCloudInitMetadata(t *testing.T) {
	binary := string([]byte{0x1f, 0x8b, 0x00, 0x01, '<', '&'})
	for _, c := range []struct {
		name              string
		src               v1alpha1.CloudInitNoCloudSource
		user, net, secret string
	}{
		{"text", v1alpha1.CloudInitNoCloudSource{UserData: "#cloud-config\n", NetworkData: "version: 2\n"}, "#cloud-config\n", "version: 2\n", ""},
		{"base64", v1alpha1.CloudInitNoCloudSource{UserDataBase64: base64.StdEncoding.EncodeToString([]byte(binary)), NetworkDataBase64: "dmVyc2lvbjogMgo="}, binary, "version: 2\n", ""},
		{"secret", v1alpha1.CloudInitNoCloudSource{UserDataSecretRef: &corev1.LocalObjectReference{Name: "ci"}}, "", "", "ci"},
	} {
		vmi := tinyVMI()
		vmi.Spec.Domain.Devices.Disks = append(vmi.Spec.Domain.Devices.Disks, v1alpha1.Disk{Name: "cloudinit", Disk: &v1alpha1.DiskTarget{Bus: "virtio"}})
		vmi.Spec.Volumes = append(vmi.Spec.Volumes, v1alpha1.Volume{Name: "cloudinit", CloudInitNoCloud: &c.src})
		out, err := RenderXML(vmi, Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		dom, err := domainspec.Parse(out)
		if err != nil {
			t.Fatal(err)
		}
		md, err := domainspec.ReadMetadata(dom)
		if err != nil {
			t.Fatal(err)
		}
		v := md.Volumes[len(md.Volumes)-1]
		user, _ := base64.StdEncoding.DecodeString(v.UserData)
		net, _ := base64.StdEncoding.DecodeString(v.NetworkData)
		if v.Kind != domainspec.VolumeCloudInitNoCloud || string(user) != c.user || string(net) != c.net || v.UserDataSecret != c.secret {
			t.Errorf("%s: volume metadata %+v (user data %q, network data %q)", c.name, v, user, net)
		}
	}
}

func renderMetadataOf(t *testing.T, vmi *v1alpha1.VirtualMachineInstance) *domainspec.Metadata {
	t.Helper()
	out, err := RenderXML(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dom, err := domainspec.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	md, err := domainspec.ReadMetadata(dom)
	if err != nil {
		t.Fatal(err)
	}
	return md
}

// Each volume's source reaches the node agent through the metadata, in
// the order of spec.volumes.
func TestVolumeMetadata(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Volumes = []v1alpha1.Volume{
		{Name: "root", ContainerDisk: &v1alpha1.ContainerDiskSource{Image: "r/d:1", Path: "/disk/root.qcow2", ImagePullPolicy: corev1.PullAlways}},
		{Name: "scratch", EmptyDisk: &v1alpha1.EmptyDiskSource{Capacity: resource.MustParse("2Gi")}},
		{Name: "data", PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: "claim-1"}},
		{Name: "host", HostDisk: &v1alpha1.HostDisk{Path: "/var/disks/h.img", Type: v1alpha1.HostDiskExistsOrCreate, Capacity: ptr.To(resource.MustParse("1Mi"))}},
		{Name: "host-existing", HostDisk: &v1alpha1.HostDisk{Path: "/var/disks/e.img", Type: v1alpha1.HostDiskExists}},
	}
	md := renderMetadataOf(t, vmi)
	want := []domainspec.VolumeMetadata{
		{Name: "root", Kind: domainspec.VolumeContainerDisk, Image: "r/d:1", Path: "/disk/root.qcow2", PullPolicy: "Always"},
		{Name: "scratch", Kind: domainspec.VolumeEmptyDisk, CapacityBytes: 2 << 30},
		{Name: "data", Kind: domainspec.VolumePVC, ClaimName: "claim-1"},
		{Name: "host", Kind: domainspec.VolumeHostDisk, Path: "/var/disks/h.img", CapacityBytes: 1 << 20, Create: true},
		{Name: "host-existing", Kind: domainspec.VolumeHostDisk, Path: "/var/disks/e.img"},
	}
	if !reflect.DeepEqual(md.Volumes, want) {
		t.Errorf("volumes\n %+v\nwant\n %+v", md.Volumes, want)
	}
}

// Whose domain it is, how long its guest gets to shut down (30s unless the
// VMI says), and which image holds the kernel (none without kernelBoot).
func TestOwnerMetadata(t *testing.T) {
	md := renderMetadataOf(t, tinyVMI())
	if md.Namespace != "default" || md.Name != "tiny" || md.UID != "6f1d2c1e-7b1a-4d8e-9a55-0c3f3b0a9e11" || md.GracePeriodSeconds != 10 {
		t.Errorf("metadata %+v", md)
	}
	if kb := md.KernelBoot; kb == nil || kb.Image != "r.example/g:1" || kb.PullPolicy != "IfNotPresent" {
		t.Errorf("kernelBoot metadata %+v", kb)
	}
	vmi := tinyVMI()
	vmi.Spec.TerminationGracePeriodSeconds = nil
	if md := renderMetadataOf(t, vmi); md.GracePeriodSeconds != 30 {
		t.Errorf("grace period %d without terminationGracePeriodSeconds, want 30", md.GracePeriodSeconds)
	}
	vmi.Spec.TerminationGracePeriodSeconds = ptr.To(int64(0))
	if md := renderMetadataOf(t, vmi); md.GracePeriodSeconds != 0 {
		t.Errorf("grace period %d for terminationGracePeriodSeconds 0", md.GracePeriodSeconds)
	}
	vmi = tinyVMI()
	vmi.Spec.Domain.Firmware = nil
	vmi.Spec.Domain.Devices.Disks = []v1alpha1.Disk{{Name: "root", Disk: &v1alpha1.DiskTarget{}}}
	if md := renderMetadataOf(t, vmi); md.KernelBoot != nil || len(md.Volumes) != 0 {
		t.Errorf("metadata %+v: kernelBoot or volumes from nowhere", md)
	}
}

// Base64 given wins over text given; neither gives no document.
func TestCloudInitDocumentPrecedence(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Volumes = []v1alpha1.Volume{
		{Name: "both", CloudInitNoCloud: &v1alpha1.CloudInitNoCloudSource{UserData: "text", UserDataBase64: "YjY0", NetworkData: "n", NetworkDataBase64: "bmI2NA=="}},
		{Name: "none", CloudInitNoCloud: &v1alpha1.CloudInitNoCloudSource{}},
	}
	md := renderMetadataOf(t, vmi)
	if v := md.Volumes[0]; v.UserData != "YjY0" || v.NetworkData != "bmI2NA==" {
		t.Errorf("both given: user data %q network data %q, want the base64 ones", v.UserData, v.NetworkData)
	}
	if v := md.Volumes[1]; v.UserData != "" || v.NetworkData != "" || v.UserDataSecret != "" || v.Kind != domainspec.VolumeCloudInitNoCloud {
		t.Errorf("none given: %+v", v)
	}
}
