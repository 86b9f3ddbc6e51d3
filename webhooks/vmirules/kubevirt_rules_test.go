package vmirules

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// The tests below hold each defaulting rule docs/api.md lists to KubeVirt's
// behaviour, one table per rule, and then check that the VMI KubeVirt would
// admit is admitted here.

// diskVMI is a VMI written as KubeVirt's documentation writes one: disks
// without a bus or bootOrder, memory from requests, nothing defaulted.
func diskVMI() *v1alpha1.VirtualMachineInstance {
	vmi := &v1alpha1.VirtualMachineInstance{}
	vmi.Name, vmi.Namespace = "doc", "default"
	vmi.Spec.Domain.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64M")}
	vmi.Spec.Domain.Devices.Disks = []v1alpha1.Disk{{Name: "containerdisk", Disk: &v1alpha1.DiskTarget{}}}
	vmi.Spec.Volumes = []v1alpha1.Volume{{Name: "containerdisk", ContainerDisk: &v1alpha1.ContainerDiskSource{Image: "vmidisks/fedora25:latest"}}}
	return vmi
}

// KubeVirt's SetDefaultVolumeDisk: a volume no disk names gets a disk of
// its name, appended in volume order, then the disk defaults.
func TestDefaultVolumeDisks(t *testing.T) {
	cases := []struct {
		name    string
		disks   []v1alpha1.Disk
		volumes []string
		want    []string // disk names after defaulting, in order
	}{
		{"volume alone", nil, []string{"root"}, []string{"root"}},
		{"every volume has a disk", []v1alpha1.Disk{{Name: "a"}, {Name: "b"}}, []string{"b", "a"}, []string{"a", "b"}},
		{"missing ones appended in volume order", []v1alpha1.Disk{{Name: "b"}}, []string{"c", "b", "a"}, []string{"b", "c", "a"}},
		{"a disk without a volume stays for validation", []v1alpha1.Disk{{Name: "x"}}, []string{"a"}, []string{"x", "a"}},
		{"a volume without a name gets no disk", nil, []string{""}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vmi := &v1alpha1.VirtualMachineInstance{}
			vmi.Spec.Domain.Devices.Disks = tc.disks
			for _, n := range tc.volumes {
				vmi.Spec.Volumes = append(vmi.Spec.Volumes, v1alpha1.Volume{Name: n, EmptyDisk: &v1alpha1.EmptyDiskSource{Capacity: resource.MustParse("1Gi")}})
			}
			Default(vmi)
			var got []string
			for _, d := range vmi.Spec.Domain.Devices.Disks {
				got = append(got, d.Name)
				if d.Disk == nil || d.Disk.Bus != v1alpha1.DiskBusSATA || d.BootOrder != nil {
					t.Errorf("disk %s: %+v, want a sata hard disk with no boot order", d.Name, d)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("disks %v, want %v", got, tc.want)
			}
		})
	}
}

// KubeVirt's disk defaults: no kind is a hard disk; disks and CD-ROMs
// without a bus get SATA on x86_64; CD-ROMs are read-only unless they say
// otherwise. LUNs keep podvirt's scsi (docs/api.md says why).
func TestDefaultDiskBuses(t *testing.T) {
	cases := []struct {
		name     string
		disk     v1alpha1.Disk
		kind     string
		bus      v1alpha1.DiskBus
		readOnly bool
	}{
		{"no kind", v1alpha1.Disk{Name: "a"}, "disk", v1alpha1.DiskBusSATA, false},
		{"disk without bus", v1alpha1.Disk{Name: "a", Disk: &v1alpha1.DiskTarget{}}, "disk", v1alpha1.DiskBusSATA, false},
		{"virtio disk kept", v1alpha1.Disk{Name: "a", Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusVirtio, ReadOnly: true}}, "disk", v1alpha1.DiskBusVirtio, true},
		{"cdrom", v1alpha1.Disk{Name: "a", CDRom: &v1alpha1.CDRomTarget{}}, "cdrom", v1alpha1.DiskBusSATA, true},
		{"writable cdrom kept as said", v1alpha1.Disk{Name: "a", CDRom: &v1alpha1.CDRomTarget{ReadOnly: ptr.To(false)}}, "cdrom", v1alpha1.DiskBusSATA, false},
		{"scsi cdrom kept", v1alpha1.Disk{Name: "a", CDRom: &v1alpha1.CDRomTarget{Bus: v1alpha1.DiskBusSCSI}}, "cdrom", v1alpha1.DiskBusSCSI, true},
		{"lun", v1alpha1.Disk{Name: "a", LUN: &v1alpha1.LunTarget{}}, "lun", v1alpha1.DiskBusSCSI, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			disks := []v1alpha1.Disk{tc.disk}
			defaultDisks(disks)
			d := disks[0]
			var kind string
			var bus v1alpha1.DiskBus
			var ro bool
			switch {
			case d.Disk != nil && d.CDRom == nil && d.LUN == nil:
				kind, bus, ro = "disk", d.Disk.Bus, d.Disk.ReadOnly
			case d.CDRom != nil && d.Disk == nil && d.LUN == nil:
				kind, bus, ro = "cdrom", d.CDRom.Bus, d.CDRom.ReadOnly != nil && *d.CDRom.ReadOnly
			case d.LUN != nil && d.Disk == nil && d.CDRom == nil:
				kind, bus, ro = "lun", d.LUN.Bus, d.LUN.ReadOnly
			}
			if kind != tc.kind || bus != tc.bus || ro != tc.readOnly {
				t.Errorf("%s on %q read-only %v, want %s on %q read-only %v", kind, bus, ro, tc.kind, tc.bus, tc.readOnly)
			}
		})
	}
}

// KubeVirt's SetDefaultGuestCPUTopology: the topology comes from resources
// whenever no count is given, also when cpu holds only a model.
func TestDefaultCPUTopologyWithOnlyAModel(t *testing.T) {
	cases := []struct {
		name                   string
		cpu                    *v1alpha1.CPU
		limit, request         string
		sockets, cores, thread uint32
	}{
		{"model only, limit 2", &v1alpha1.CPU{Model: "host-model"}, "2", "", 2, 1, 1},
		{"model only, request 3", &v1alpha1.CPU{Model: "host-model"}, "", "3", 3, 1, 1},
		{"model only, nothing", &v1alpha1.CPU{Model: "host-model"}, "", "", 1, 1, 1},
		{"cores 3 (docs' Topology example)", &v1alpha1.CPU{Cores: 3}, "8", "", 1, 3, 1},
		{"sockets given, limit ignored", &v1alpha1.CPU{Sockets: 2}, "8", "", 2, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &v1alpha1.DomainSpec{CPU: tc.cpu}
			if tc.limit != "" {
				d.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(tc.limit)}
			}
			if tc.request != "" {
				d.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(tc.request)}
			}
			defaultCPU(d)
			if c := d.CPU; c.Sockets != tc.sockets || c.Cores != tc.cores || c.Threads != tc.thread {
				t.Errorf("cpu %+v, want %d sockets, %d cores, %d threads", *c, tc.sockets, tc.cores, tc.thread)
			}
		})
	}
}

// KubeVirt's setDefaultResourceRequests: a CPU limit without a request
// becomes the request.
func TestDefaultCPURequestFromLimit(t *testing.T) {
	cases := []struct {
		name, limit, request, want string
	}{
		{"limit only", "2", "", "2"},
		{"request kept", "2", "1", "1"},
		{"zero request replaced", "2", "0", "2"},
		{"no limit, no request", "", "", ""},
		{"request only", "", "500m", "500m"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &v1alpha1.DomainSpec{}
			if tc.limit != "" {
				d.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(tc.limit)}
			}
			if tc.request != "" {
				d.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(tc.request)}
			}
			defaultCPURequest(d)
			got, ok := d.Resources.Requests[corev1.ResourceCPU]
			if tc.want == "" {
				if ok {
					t.Errorf("request %s, want none", got.String())
				}
				return
			}
			if !ok || got.Cmp(resource.MustParse(tc.want)) != 0 {
				t.Errorf("request %s (set %v), want %s", got.String(), ok, tc.want)
			}
		})
	}
}

// KubeVirt's setGuestMemory: guest memory from requests.memory, else
// limits.memory; podvirt then requests what the guest gets.
func TestDefaultGuestMemory(t *testing.T) {
	cases := []struct {
		name                   string
		guest, request, limit  string
		wantGuest, wantRequest string
	}{
		{"request only", "", "64M", "", "64M", "64M"},
		{"limit only", "", "", "2Gi", "2Gi", "2Gi"},
		{"request wins over limit", "", "1Gi", "2Gi", "1Gi", "1Gi"},
		{"guest only", "1Gi", "", "", "1Gi", "1Gi"},
		{"guest kept over request", "1Gi", "2Gi", "", "1Gi", "2Gi"},
		{"zero request falls back to the limit", "", "0", "1Gi", "1Gi", "0"},
		{"nothing", "", "", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &v1alpha1.DomainSpec{}
			if tc.guest != "" {
				d.Memory = &v1alpha1.Memory{Guest: ptr.To(resource.MustParse(tc.guest))}
			}
			if tc.request != "" {
				d.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(tc.request)}
			}
			if tc.limit != "" {
				d.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(tc.limit)}
			}
			defaultMemory(d)
			gotGuest := ""
			if d.Memory != nil && d.Memory.Guest != nil {
				gotGuest = d.Memory.Guest.String()
			}
			gotReq := ""
			if q, ok := d.Resources.Requests[corev1.ResourceMemory]; ok {
				gotReq = q.String()
			}
			if gotGuest != tc.wantGuest || gotReq != tc.wantRequest {
				t.Errorf("guest %q request %q, want %q %q", gotGuest, gotReq, tc.wantGuest, tc.wantRequest)
			}
		})
	}
}

// KubeVirt's pull policy of a containerDisk, and Kubernetes' of a
// container (what a KubeVirt kernelBoot image gets).
func TestDefaultPullPolicies(t *testing.T) {
	cases := []struct {
		image                 string
		containerDisk, kernel corev1.PullPolicy
	}{
		{"kubevirt/cirros-container-disk-demo:latest", corev1.PullAlways, corev1.PullAlways},
		{"kubevirt/cirros-container-disk-demo", corev1.PullAlways, corev1.PullAlways},
		{"quay.io/containerdisks/fedora:40", corev1.PullIfNotPresent, corev1.PullIfNotPresent},
		{"r.example/os@sha256:" + strings.Repeat("a", 64), corev1.PullIfNotPresent, corev1.PullIfNotPresent},
		{"r.example/os:latest@sha256:" + strings.Repeat("a", 64), corev1.PullIfNotPresent, corev1.PullAlways},
		// KubeVirt's containerDisk check looks for any ':'; Kubernetes
		// parses the reference and finds no tag.
		{"localhost:5000/os", corev1.PullIfNotPresent, corev1.PullAlways},
		{"localhost:5000/os:1", corev1.PullIfNotPresent, corev1.PullIfNotPresent},
	}
	for _, tc := range cases {
		t.Run(tc.image, func(t *testing.T) {
			if got := containerDiskPullPolicy(tc.image); got != tc.containerDisk {
				t.Errorf("containerDisk %s, want %s", got, tc.containerDisk)
			}
			if got := containerPullPolicy(tc.image); got != tc.kernel {
				t.Errorf("kernelBoot %s, want %s", got, tc.kernel)
			}
		})
	}
}

// What KubeVirt admits after its defaulting is admitted here after ours,
// and the defaulted result is what KubeVirt's would be.
func TestKubeVirtShapedVMIsAdmitted(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*v1alpha1.VirtualMachineInstance)
		check  func(*testing.T, *v1alpha1.VirtualMachineInstance)
	}{
		{"only disk, no bootOrder", func(*v1alpha1.VirtualMachineInstance) {}, func(t *testing.T, v *v1alpha1.VirtualMachineInstance) {
			if d := v.Spec.Domain.Devices.Disks[0]; d.BootOrder != nil || d.Disk.Bus != v1alpha1.DiskBusSATA {
				t.Errorf("disk %+v, want no boot order and a sata bus", d)
			}
		}},
		{"volume without a disk", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Disks = nil
			v.Spec.Volumes = append(v.Spec.Volumes, v1alpha1.Volume{Name: "cloudinitdisk", CloudInitNoCloud: &v1alpha1.CloudInitNoCloudSource{UserData: "#cloud-config"}})
		}, func(t *testing.T, v *v1alpha1.VirtualMachineInstance) {
			if d := v.Spec.Domain.Devices.Disks; len(d) != 2 || d[0].Name != "containerdisk" || d[1].Name != "cloudinitdisk" {
				t.Errorf("disks %+v, want one per volume in volume order", d)
			}
		}},
		{"writable cdrom (the docs' cdrom example)", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Disks[0] = v1alpha1.Disk{Name: "containerdisk", CDRom: &v1alpha1.CDRomTarget{ReadOnly: ptr.To(false), Bus: v1alpha1.DiskBusSATA}}
		}, nil},
		{"network data only", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Volumes = append(v.Spec.Volumes, v1alpha1.Volume{Name: "ci", CloudInitNoCloud: &v1alpha1.CloudInitNoCloudSource{NetworkData: "version: 2"}})
		}, nil},
		{"network boot only", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Disks, v.Spec.Volumes = nil, nil
			v.Spec.Domain.Devices.Interfaces = []v1alpha1.Interface{{Name: "default", Masquerade: &v1alpha1.InterfaceMasquerade{}, BootOrder: ptr.To(uint(1))}}
			v.Spec.Networks = []v1alpha1.Network{{Name: "default", Pod: &v1alpha1.PodNetwork{}}}
		}, nil},
		{"empty kernelBoot", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Firmware = &v1alpha1.Firmware{KernelBoot: &v1alpha1.KernelBoot{}}
		}, nil},
		{"memory from limits only", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Resources.Requests = nil
			v.Spec.Domain.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}
		}, func(t *testing.T, v *v1alpha1.VirtualMachineInstance) {
			if g := v.Spec.Domain.Memory.Guest; g.Cmp(resource.MustParse("128Mi")) != 0 {
				t.Errorf("guest %s, want 128Mi from limits.memory", g)
			}
		}},
		{"cpu model and a limit", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU = &v1alpha1.CPU{Model: "host-passthrough"}
			v.Spec.Domain.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}
		}, func(t *testing.T, v *v1alpha1.VirtualMachineInstance) {
			if c := v.Spec.Domain.CPU; c.Sockets != 4 || c.Model != "host-passthrough" {
				t.Errorf("cpu %+v, want 4 sockets and the model kept", c)
			}
			if r := v.Spec.Domain.Resources.Requests[corev1.ResourceCPU]; r.Cmp(resource.MustParse("4")) != 0 {
				t.Errorf("cpu request %s, want the limit", r.String())
			}
		}},
		{"empty machine type (the docs' hostDisk example)", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Machine = &v1alpha1.Machine{Type: ""}
		}, func(t *testing.T, v *v1alpha1.VirtualMachineInstance) {
			if v.Spec.Domain.Machine.Type != "q35" {
				t.Errorf("machine %q, want q35", v.Spec.Domain.Machine.Type)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vmi := diskVMI()
			tc.mutate(vmi)
			Default(vmi)
			if errs := Validate(vmi); len(errs) != 0 {
				t.Fatalf("refused: %v", errs)
			}
			if tc.check != nil {
				tc.check(t, vmi)
			}
			again := vmi.DeepCopy()
			Default(again)
			if !equality.Semantic.DeepEqual(again, vmi) {
				t.Errorf("defaulting twice changed the VMI")
			}
		})
	}
}
