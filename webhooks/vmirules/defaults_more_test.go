package vmirules

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// TestDefaultCPUSocketsFromResources: with no topology, one socket per CPU
// of the limit (else the request), rounded up.
func TestDefaultCPUSocketsFromResources(t *testing.T) {
	cases := []struct {
		name           string
		limit, request string
		want           uint32
	}{
		{"none", "", "", 1},
		{"limit of one", "1", "", 1},
		{"limit of 1500m rounds up", "1500m", "", 2},
		{"limit of 1001m rounds up", "1001m", "", 2},
		{"limit of 2000m", "2", "", 2},
		{"limit of 100m", "100m", "", 1},
		{"request when no limit", "", "3", 3},
		{"limit wins over request", "2", "4", 2},
		{"zero limit", "0", "", 1},
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
			defaultCPU(d)
			if d.CPU.Sockets != tc.want || d.CPU.Cores != 1 || d.CPU.Threads != 1 {
				t.Errorf("cpu %+v, want %d sockets of 1 core, 1 thread", *d.CPU, tc.want)
			}
		})
	}
}

// TestDefaultCPUKeepsAGivenTopology: a topology the user gave is not
// recomputed from resources; only its unset counts become 1.
func TestDefaultCPUKeepsAGivenTopology(t *testing.T) {
	d := &v1alpha1.DomainSpec{CPU: &v1alpha1.CPU{Threads: 2}}
	d.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")}
	defaultCPU(d)
	if d.CPU.Sockets != 1 || d.CPU.Cores != 1 || d.CPU.Threads != 2 {
		t.Errorf("cpu %+v, want 1 socket, 1 core, 2 threads", *d.CPU)
	}
}

func TestDefaultSecureBootTurnsOnSMM(t *testing.T) {
	vmi := validVMI()
	vmi.Spec.Domain.Features = nil
	vmi.Spec.Domain.Firmware.Bootloader = &v1alpha1.Bootloader{EFI: &v1alpha1.EFI{}}
	Default(vmi)
	efi := vmi.Spec.Domain.Firmware.Bootloader.EFI
	if efi.SecureBoot == nil || !*efi.SecureBoot {
		t.Errorf("secureBoot %v, want true by default", efi.SecureBoot)
	}
	f := vmi.Spec.Domain.Features
	if f == nil || f.SMM == nil || f.SMM.Enabled == nil || !*f.SMM.Enabled {
		t.Fatalf("features %+v, want smm enabled for Secure Boot", f)
	}
	if errs := Validate(vmi); len(errs) != 0 {
		t.Errorf("defaulted EFI VMI rejected: %v", errs)
	}
}

func TestDefaultSecureBootKeepsOtherFeatures(t *testing.T) {
	vmi := validVMI()
	vmi.Spec.Domain.Features = &v1alpha1.Features{APIC: &v1alpha1.FeatureAPIC{}}
	vmi.Spec.Domain.Firmware.Bootloader = &v1alpha1.Bootloader{EFI: &v1alpha1.EFI{SecureBoot: ptr.To(true)}}
	Default(vmi)
	f := vmi.Spec.Domain.Features
	if f.APIC == nil || f.SMM == nil || !*f.SMM.Enabled {
		t.Errorf("features %+v, want apic kept and smm enabled", f)
	}
}

func TestDefaultSecureBootKeepsAUserSMM(t *testing.T) {
	vmi := validVMI()
	vmi.Spec.Domain.Features = &v1alpha1.Features{SMM: &v1alpha1.FeatureState{Enabled: ptr.To(false)}}
	vmi.Spec.Domain.Firmware.Bootloader = &v1alpha1.Bootloader{EFI: &v1alpha1.EFI{}}
	Default(vmi)
	if s := vmi.Spec.Domain.Features.SMM; s == nil || s.Enabled == nil || *s.Enabled {
		t.Errorf("smm %+v, want the user's disabled smm kept (validation explains the conflict)", s)
	}
}

func TestDefaultEFIWithoutSecureBootLeavesFeatures(t *testing.T) {
	vmi := validVMI()
	vmi.Spec.Domain.Features = nil
	vmi.Spec.Domain.Firmware.Bootloader = &v1alpha1.Bootloader{EFI: &v1alpha1.EFI{SecureBoot: ptr.To(false)}}
	Default(vmi)
	// Features always exist with ACPI on, as in KubeVirt; no SMM without
	// Secure Boot.
	if f := vmi.Spec.Domain.Features; !onlyACPI(f) {
		t.Errorf("features %+v, want only acpi without Secure Boot", f)
	}
	if sb := vmi.Spec.Domain.Firmware.Bootloader.EFI.SecureBoot; sb == nil || *sb {
		t.Errorf("secureBoot %v, want the user's false kept", sb)
	}
}

func TestDefaultBIOSLeavesFeatures(t *testing.T) {
	vmi := validVMI()
	vmi.Spec.Domain.Features = nil
	vmi.Spec.Domain.Firmware.Bootloader = &v1alpha1.Bootloader{BIOS: &v1alpha1.BIOS{}}
	Default(vmi)
	if f := vmi.Spec.Domain.Features; !onlyACPI(f) {
		t.Errorf("features %+v, want only acpi for BIOS", f)
	}
}

// onlyACPI: the features of a VMI that gave none, defaulted as KubeVirt
// defaults them (SetDefaults_VirtualMachineInstance, SetDefaults_FeatureState).
func onlyACPI(f *v1alpha1.Features) bool {
	return f != nil && f.ACPI.Enabled != nil && *f.ACPI.Enabled && f.APIC == nil && f.SMM == nil && f.Hyperv == nil
}

func TestDefaultKernelBootKeepsPullPolicy(t *testing.T) {
	vmi := validVMI()
	vmi.Spec.Domain.Firmware.KernelBoot.Container.ImagePullPolicy = corev1.PullAlways
	Default(vmi)
	if p := vmi.Spec.Domain.Firmware.KernelBoot.Container.ImagePullPolicy; p != corev1.PullAlways {
		t.Errorf("pull policy %q, want the user's Always", p)
	}
}

func TestDefaultDisks(t *testing.T) {
	disks := []v1alpha1.Disk{
		{Name: "plain"},
		{Name: "cd", CDRom: &v1alpha1.CDRomTarget{}},
		{Name: "lun", LUN: &v1alpha1.LunTarget{}},
		{Name: "scsi", Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusSCSI}},
		{Name: "cd-scsi", CDRom: &v1alpha1.CDRomTarget{Bus: v1alpha1.DiskBusSCSI, ReadOnly: ptr.To(false)}},
	}
	defaultDisks(disks)
	if d := disks[0]; d.Disk == nil || d.Disk.Bus != v1alpha1.DiskBusSATA || d.CDRom != nil || d.LUN != nil {
		t.Errorf("disk with no kind: %+v, want a sata disk (KubeVirt's x86_64 default)", d)
	}
	if d := disks[1]; d.Disk != nil || d.CDRom.Bus != v1alpha1.DiskBusSATA || d.CDRom.ReadOnly == nil || !*d.CDRom.ReadOnly {
		t.Errorf("cdrom: %+v, want a read-only sata cdrom and no disk", d)
	}
	if d := disks[2]; d.Disk != nil || d.LUN.Bus != v1alpha1.DiskBusSCSI {
		t.Errorf("lun: %+v, want a scsi lun and no disk", d)
	}
	if d := disks[3]; d.Disk.Bus != v1alpha1.DiskBusSCSI {
		t.Errorf("scsi disk: bus %q, want the user's scsi", d.Disk.Bus)
	}
	if d := disks[4]; d.CDRom.Bus != v1alpha1.DiskBusSCSI || *d.CDRom.ReadOnly {
		t.Errorf("cdrom: %+v, want the user's bus and readonly kept", d.CDRom)
	}
}

func TestDefaultNetworks(t *testing.T) {
	t.Run("pod network added", func(t *testing.T) {
		vmi := validVMI()
		n, i := vmi.Spec.Networks, vmi.Spec.Domain.Devices.Interfaces
		if len(n) != 1 || n[0].Name != DefaultNetworkName || n[0].Pod == nil {
			t.Errorf("networks %+v, want the pod network", n)
		}
		if len(i) != 1 || i[0].Name != DefaultNetworkName || i[0].Masquerade == nil || i[0].Model != "virtio" {
			t.Errorf("interfaces %+v, want a virtio masquerade interface", i)
		}
	})
	t.Run("autoattach off", func(t *testing.T) {
		vmi := &v1alpha1.VirtualMachineInstance{}
		vmi.Spec.Domain.Devices.AutoattachPodInterface = ptr.To(false)
		Default(vmi)
		if len(vmi.Spec.Networks) != 0 || len(vmi.Spec.Domain.Devices.Interfaces) != 0 {
			t.Errorf("networks %+v interfaces %+v, want none", vmi.Spec.Networks, vmi.Spec.Domain.Devices.Interfaces)
		}
	})
	t.Run("autoattach on explicitly", func(t *testing.T) {
		vmi := &v1alpha1.VirtualMachineInstance{}
		vmi.Spec.Domain.Devices.AutoattachPodInterface = ptr.To(true)
		Default(vmi)
		if len(vmi.Spec.Networks) != 1 || len(vmi.Spec.Domain.Devices.Interfaces) != 1 {
			t.Errorf("networks %+v interfaces %+v, want the pod network", vmi.Spec.Networks, vmi.Spec.Domain.Devices.Interfaces)
		}
	})
	t.Run("user networks kept", func(t *testing.T) {
		vmi := &v1alpha1.VirtualMachineInstance{}
		vmi.Spec.Networks = []v1alpha1.Network{{Name: "mine", Pod: &v1alpha1.PodNetwork{}}}
		Default(vmi)
		if len(vmi.Spec.Networks) != 1 || vmi.Spec.Networks[0].Name != "mine" || len(vmi.Spec.Domain.Devices.Interfaces) != 0 {
			t.Errorf("networks %+v interfaces %+v, want only the user's network", vmi.Spec.Networks, vmi.Spec.Domain.Devices.Interfaces)
		}
	})
	t.Run("user interfaces kept", func(t *testing.T) {
		vmi := &v1alpha1.VirtualMachineInstance{}
		vmi.Spec.Domain.Devices.Interfaces = []v1alpha1.Interface{{Name: "mine", Model: "e1000", Bridge: &v1alpha1.InterfaceBridge{},
			Ports: []v1alpha1.Port{{Port: 53}, {Port: 53, Protocol: "UDP"}}}}
		Default(vmi)
		i := vmi.Spec.Domain.Devices.Interfaces
		if len(vmi.Spec.Networks) != 0 || len(i) != 1 || i[0].Name != "mine" || i[0].Model != "e1000" {
			t.Fatalf("networks %+v interfaces %+v, want only the user's interface, model kept", vmi.Spec.Networks, i)
		}
		if i[0].Ports[0].Protocol != "TCP" || i[0].Ports[1].Protocol != "UDP" {
			t.Errorf("ports %+v, want TCP by default and UDP kept", i[0].Ports)
		}
	})
}

func TestDefaultVolumesAndEviction(t *testing.T) {
	vmi := validVMI()
	vmi.Spec.EvictionStrategy = nil
	vmi.Spec.Volumes = []v1alpha1.Volume{
		{Name: "a", ContainerDisk: &v1alpha1.ContainerDiskSource{Image: "x"}},
		{Name: "b", ContainerDisk: &v1alpha1.ContainerDiskSource{Image: "y", ImagePullPolicy: corev1.PullNever}},
		{Name: "c", EmptyDisk: &v1alpha1.EmptyDiskSource{Capacity: resource.MustParse("1Gi")}},
	}
	Default(vmi)
	if es := vmi.Spec.EvictionStrategy; es == nil || *es != v1alpha1.EvictionStrategyNone {
		t.Errorf("eviction strategy %v, want None", es)
	}
	if p := vmi.Spec.Volumes[0].ContainerDisk.ImagePullPolicy; p != corev1.PullAlways {
		t.Errorf("volume a pull policy %q, want Always for an untagged image", p)
	}
	if p := vmi.Spec.Volumes[1].ContainerDisk.ImagePullPolicy; p != corev1.PullNever {
		t.Errorf("volume b pull policy %q, want the user's Never", p)
	}
}

func TestDefaultMemoryBothSetKeepsBoth(t *testing.T) {
	d := &v1alpha1.DomainSpec{Memory: &v1alpha1.Memory{Guest: ptr.To(resource.MustParse("1Gi"))}}
	d.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}
	defaultMemory(d)
	if g := d.Memory.Guest; g.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("guest %s, want 1Gi kept", g)
	}
	if r := d.Resources.Requests[corev1.ResourceMemory]; r.Cmp(resource.MustParse("2Gi")) != 0 {
		t.Errorf("request %s, want 2Gi kept", r.String())
	}
}

func TestDefaultMemoryGuestIntoExistingRequests(t *testing.T) {
	d := &v1alpha1.DomainSpec{Memory: &v1alpha1.Memory{Guest: ptr.To(resource.MustParse("1Gi"))}}
	d.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	defaultMemory(d)
	if r := d.Resources.Requests[corev1.ResourceMemory]; r.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("request %s, want 1Gi", r.String())
	}
	if _, ok := d.Resources.Requests[corev1.ResourceCPU]; !ok {
		t.Errorf("the cpu request was dropped")
	}
}

func TestDefaultMemoryGuestFromRequestIntoEmptyMemory(t *testing.T) {
	d := &v1alpha1.DomainSpec{Memory: &v1alpha1.Memory{}}
	d.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}
	defaultMemory(d)
	if d.Memory.Guest == nil || d.Memory.Guest.Cmp(resource.MustParse("512Mi")) != 0 {
		t.Errorf("memory %+v, want guest 512Mi", d.Memory)
	}
}
