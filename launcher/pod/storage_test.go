package pod

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

const (
	mi = int64(1) << 20
	gi = int64(1) << 30
	// serial is the serial log's allowance, base the launcher's own.
	serial = int64(domainspec.SerialLogAllowanceBytes)
	base   = 64 * mi
	// iso is a cloud-init ISO's fixed part.
	iso = int64(domainspec.ISOOverheadBytes + domainspec.CloudInitMetaDataBytes)
)

// What each volume counts in the launcher Pod's ephemeral storage, and
// how a user's ephemeral-storage merges: the larger of theirs and the
// computed total.
func TestEphemeralStorage(t *testing.T) {
	empty := func(name, size string) v1alpha1.Volume {
		return v1alpha1.Volume{Name: name, EmptyDisk: &v1alpha1.EmptyDiskSource{Capacity: resource.MustParse(size)}}
	}
	cd := func(name string) v1alpha1.Volume {
		return v1alpha1.Volume{Name: name, ContainerDisk: &v1alpha1.ContainerDiskSource{Image: "r/d:1"}}
	}
	user := func(req, limit string) v1alpha1.ResourceRequirements {
		r := v1alpha1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
		if req != "" {
			r.Requests[corev1.ResourceEphemeralStorage] = resource.MustParse(req)
		}
		if limit != "" {
			r.Limits[corev1.ResourceEphemeralStorage] = resource.MustParse(limit)
		}
		return r
	}
	for _, c := range []struct {
		name      string
		volumes   []v1alpha1.Volume
		resources v1alpha1.ResourceRequirements
		opts      Options
		files     int64
	}{
		{name: "no volumes: the serial log", files: serial},
		{name: "emptyDisk by capacity, sparse or not", volumes: []v1alpha1.Volume{empty("a", "541G")}, files: serial + 541_000_000_000},
		{name: "emptyDisks add up", volumes: []v1alpha1.Volume{empty("a", "1Gi"), empty("b", "512Mi")}, files: serial + gi + 512*mi},
		{name: "containerDisk: the default allowance", volumes: []v1alpha1.Volume{cd("root")}, files: serial + gi},
		{name: "containerDisk: the allowance given", volumes: []v1alpha1.Volume{cd("root"), cd("data")}, opts: Options{ContainerDiskBytes: resource.MustParse("3Gi")}, files: serial + 6*gi},
		{name: "cloud-init inline", volumes: []v1alpha1.Volume{{Name: "ci", CloudInitNoCloud: &v1alpha1.CloudInitNoCloudSource{
			UserData: strings.Repeat("u", 1000), NetworkData: "version: 2\n"}}}, files: serial + iso + 1000 + 11},
		{name: "cloud-init base64: decoded size", volumes: []v1alpha1.Volume{{Name: "ci", CloudInitNoCloud: &v1alpha1.CloudInitNoCloudSource{
			UserDataBase64: "I2Nsb3VkLWNvbmZpZwo=", NetworkDataBase64: "dmVyc2lvbjogMgo="}}}, files: serial + iso + 15 + 12},
		{name: "cloud-init from a Secret: a Secret's most", volumes: []v1alpha1.Volume{{Name: "ci", CloudInitNoCloud: &v1alpha1.CloudInitNoCloudSource{
			UserDataSecretRef: &corev1.LocalObjectReference{Name: "s"}}}}, files: serial + iso + domainspec.SecretMaxBytes},
		{name: "PVCs and host disks are not the Pod's files", volumes: []v1alpha1.Volume{
			{Name: "pvc", PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}},
			{Name: "host", HostDisk: &v1alpha1.HostDisk{Path: "/var/lib/podvirt/x", Type: v1alpha1.HostDiskExistsOrCreate, Capacity: ptrQ("9Gi")}}}, files: serial},
		{name: "a user request above the computed total raises it", volumes: []v1alpha1.Volume{cd("root")}, resources: user("10Gi", ""), files: 10*gi - base},
		{name: "a user limit above the computed total raises it", volumes: []v1alpha1.Volume{cd("root")}, resources: user("", "10Gi"), files: 10*gi - base},
		{name: "the larger of the user's request and limit", resources: user("2Gi", "3Gi"), files: 3*gi - base},
		{name: "a user value below the computed total is not less", volumes: []v1alpha1.Volume{empty("a", "8Gi")}, resources: user("1Gi", "1Gi"), files: serial + 8*gi},
		{name: "the launcher's own, as given", opts: Options{LauncherStorage: resource.MustParse("100Mi")}, files: serial},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := vmi()
			v.Spec.Volumes, v.Spec.Domain.Resources = c.volumes, c.resources
			p, err := Render(v, "<domain/>", c.opts)
			if err != nil {
				t.Fatal(err)
			}
			own := base
			if !c.opts.LauncherStorage.IsZero() {
				own = c.opts.LauncherStorage.Value()
			}
			res := p.Spec.Containers[0].Resources
			req, limit := res.Requests[corev1.ResourceEphemeralStorage], res.Limits[corev1.ResourceEphemeralStorage]
			if req.Value() != c.files+own || limit.Value() != c.files+own {
				t.Errorf("ephemeral-storage request %s limit %s, want %d (files %d + launcher %d)", req.String(), limit.String(), c.files+own, c.files, own)
			}
			var state *corev1.Volume
			for i := range p.Spec.Volumes {
				if p.Spec.Volumes[i].Name == domainspec.StateVolume {
					state = &p.Spec.Volumes[i]
				}
			}
			if state == nil || state.EmptyDir == nil || state.EmptyDir.SizeLimit == nil || state.EmptyDir.Medium != corev1.StorageMediumDefault {
				t.Fatalf("state volume %+v, want an emptyDir on the node's disk with a sizeLimit", state)
			}
			if got := state.EmptyDir.SizeLimit.Value(); got != c.files {
				t.Errorf("state volume sizeLimit %d, want %d", got, c.files)
			}
			// Memory and CPU are untouched.
			if m := res.Limits[corev1.ResourceMemory]; m.Cmp(resource.MustParse("256Mi")) != 0 {
				t.Errorf("memory limit %s", m.String())
			}
		})
	}
}

// The launcher mounts its state volume read-only (it only watches it),
// and a cloud-init Secret volume cannot take the state volume's name.
func TestStateVolumeMount(t *testing.T) {
	p, err := Render(vmi(), "<domain/>", Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := p.Spec.Containers[0].VolumeMounts
	if len(m) != 1 || m[0].Name != domainspec.StateVolume || m[0].MountPath != StateDir || !m[0].ReadOnly {
		t.Errorf("mounts %+v, want the state volume read-only at %s", m, StateDir)
	}
	v := vmi()
	v.Spec.Volumes = []v1alpha1.Volume{{Name: domainspec.StateVolume, CloudInitNoCloud: &v1alpha1.CloudInitNoCloudSource{UserDataSecretRef: &corev1.LocalObjectReference{Name: "s"}}}}
	if _, err := Render(v, "<domain/>", Options{}); err == nil || !strings.Contains(err.Error(), domainspec.StateVolume) {
		t.Errorf("a Secret volume named %s: %v, want an error naming it", domainspec.StateVolume, err)
	}
	v.Spec.Volumes[0].CloudInitNoCloud = &v1alpha1.CloudInitNoCloudSource{UserData: "#cloud-config\n"}
	if _, err := Render(v, "<domain/>", Options{}); err != nil {
		t.Errorf("an inline cloud-init volume of that name mounts nothing: %v", err)
	}
}

func ptrQ(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}
