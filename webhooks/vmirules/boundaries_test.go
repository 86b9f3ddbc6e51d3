package vmirules_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/webhooks/vmirules"
	"github.com/podvirt/podvirt/webhooks/vmirules/vmirulestest"
)

// TestValidLimitsAreAccepted holds every limit check to its boundary: the
// largest (or smallest) value a rule allows is valid, so a check that
// flips < into <= rejects it.
func TestValidLimitsAreAccepted(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*v1alpha1.VirtualMachineInstance)
	}{
		{"name of 49 bytes, the longest a launcher Pod name allows", func(v *v1alpha1.VirtualMachineInstance) { v.Name = strings.Repeat("a", 49) }},
		{"512 vCPUs", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU.Cores, v.Spec.Domain.CPU.Sockets, v.Spec.Domain.CPU.Threads = 8, 32, 2
		}},
		{"guest memory of exactly 1Mi", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Memory.Guest = ptr.To(resource.MustParse("1Mi"))
			v.Spec.Domain.Resources.Requests[corev1.ResourceMemory] = resource.MustParse("1Mi")
		}},
		{"guest memory equal to the limit", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Memory.Guest = ptr.To(resource.MustParse("2Gi"))
			v.Spec.Domain.Resources.Requests[corev1.ResourceMemory] = resource.MustParse("2Gi")
		}},
		{"cpu request equal to the limit", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2")
		}},
		{"memory request equal to the limit", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Resources.Requests[corev1.ResourceMemory] = resource.MustParse("2Gi")
		}},
		{"port 1", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.Interfaces[0].Ports[0].Port = 1 }},
		{"port 65535", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.Interfaces[0].Ports[0].Port = 65535 }},
		{"grace period 0", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.TerminationGracePeriodSeconds = ptr.To(int64(0)) }},
		{"disk boot order 1 and 2", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.Disks[2].BootOrder = ptr.To(uint(2)) }},
		{"interface boot order 1, the disk's 2", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Interfaces[0].BootOrder = ptr.To(uint(1))
			v.Spec.Domain.Devices.Disks[0].BootOrder = ptr.To(uint(2))
		}},
		{"same port number over TCP and UDP", func(v *v1alpha1.VirtualMachineInstance) {
			i := &v.Spec.Domain.Devices.Interfaces[0]
			i.Ports = []v1alpha1.Port{{Name: "dns", Port: 53, Protocol: "TCP"}, {Name: "dns-udp", Port: 53, Protocol: "UDP"}}
		}},
		{"lun on scsi, on a pvc", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Disks[2].Disk = nil
			v.Spec.Domain.Devices.Disks[2].LUN = &v1alpha1.LunTarget{Bus: v1alpha1.DiskBusSCSI}
			v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}
		}},
		{"cdrom on scsi", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Disks[1].CDRom.Bus = v1alpha1.DiskBusSCSI
		}},
		{"secure boot with smm on", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Firmware.Bootloader = &v1alpha1.Bootloader{EFI: &v1alpha1.EFI{SecureBoot: ptr.To(true)}}
			v.Spec.Domain.Features.SMM = &v1alpha1.FeatureState{Enabled: ptr.To(true)}
		}},
		{"secure boot with smm present, enabled unset", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Firmware.Bootloader = &v1alpha1.Bootloader{EFI: &v1alpha1.EFI{SecureBoot: ptr.To(true)}}
			v.Spec.Domain.Features.SMM = &v1alpha1.FeatureState{}
		}},
		{"efi without secure boot, no smm", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Firmware.Bootloader = &v1alpha1.Bootloader{EFI: &v1alpha1.EFI{SecureBoot: ptr.To(false)}}
		}},
		{"bios alone", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Firmware.Bootloader = &v1alpha1.Bootloader{BIOS: &v1alpha1.BIOS{}}
		}},
		{"acpi enabled explicitly", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Features.ACPI.Enabled = ptr.To(true) }},
		{"no features", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Features = nil }},
		{"no firmware, a boot disk", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Firmware = nil }},
		{"kernel boot and no boot disk", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Disks[0].BootOrder = nil
			v.Spec.Domain.Firmware.KernelBoot = &v1alpha1.KernelBoot{KernelArgs: "console=ttyS0 quiet",
				Container: &v1alpha1.KernelBootContainer{Image: "r.example/k:1", KernelPath: "/boot/vmlinuz"}}
		}},
		{"cdrom read-only explicitly", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.Disks[1].CDRom.ReadOnly = ptr.To(true) }},
		{"container disk absolute path", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Volumes[0].ContainerDisk.Path = "/disk/x.img" }},
		{"cloud-init plain user data and network data", func(v *v1alpha1.VirtualMachineInstance) {
			ci := v.Spec.Volumes[1].CloudInitNoCloud
			ci.UserDataBase64, ci.UserData, ci.NetworkData = "", "#cloud-config", "version: 2"
		}},
		{"cloud-init secret ref", func(v *v1alpha1.VirtualMachineInstance) {
			ci := v.Spec.Volumes[1].CloudInitNoCloud
			ci.UserDataBase64, ci.UserDataSecretRef = "", &corev1.LocalObjectReference{Name: "ud"}
		}},
		{"cloud-init network data base64", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Volumes[1].CloudInitNoCloud.NetworkDataBase64 = "dmVyc2lvbjogMgo="
		}},
		{"pvc", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: "my-claim.v1"}}
		}},
		{"host disk create with capacity", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", HostDisk: &v1alpha1.HostDisk{Path: "/data/x.img", Type: v1alpha1.HostDiskExistsOrCreate, Capacity: ptr.To(resource.MustParse("1Gi"))}}
		}},
		{"host disk existing, no capacity", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", HostDisk: &v1alpha1.HostDisk{Path: "/data/x.img", Type: "Disk"}}
		}},
		{"no vm network cidr", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Networks[0].Pod.VMNetworkCIDR = "" }},
		{"no mac", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.Interfaces[0].MacAddress = "" }},
		{"mac with even first octet", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Interfaces[0].MacAddress = "fe:00:00:00:00:01"
		}},
		{"hostname and subdomain", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Hostname, v.Spec.Subdomain = "vm-1", "vms" }},
		{"eviction None", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.EvictionStrategy = ptr.To(v1alpha1.EvictionStrategyNone)
		}},
		{"versioned machine types", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Machine.Type = "pc-q35-8.2" }},
		{"cpu model with dots and dashes", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.CPU.Model = "Skylake-Server-v4.1_x" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vmi := vmirulestest.Full()
			tc.mutate(vmi)
			if errs := vmirules.Validate(vmi); len(errs) != 0 {
				t.Errorf("rejected: %v", errs)
			}
		})
	}
}

// TestLimitsJustPastTheBoundary: one past each limit is the first value
// rejected.
func TestLimitsJustPastTheBoundary(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*v1alpha1.VirtualMachineInstance)
		want   string
	}{
		{"513 vCPUs", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU.Cores, v.Spec.Domain.CPU.Sockets, v.Spec.Domain.CPU.Threads = 513, 1, 1
		}, "spec.domain.cpu: Invalid value: 513: cores*sockets*threads must be at most 512"},
		{"514 vCPUs as 257 sockets of 2 threads", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU.Cores, v.Spec.Domain.CPU.Sockets, v.Spec.Domain.CPU.Threads = 1, 257, 2
		}, "spec.domain.cpu: Invalid value: 514: cores*sockets*threads must be at most 512"},
		{"514 vCPUs as 2 cores of 257 sockets", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU.Cores, v.Spec.Domain.CPU.Sockets, v.Spec.Domain.CPU.Threads = 2, 257, 1
		}, "spec.domain.cpu: Invalid value: 514: cores*sockets*threads must be at most 512"},
		{"port 65536", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.Interfaces[0].Ports[0].Port = 65536 },
			"spec.domain.devices.interfaces[0].ports[0].port: Invalid value: 65536: must be between 1 and 65535"},
		{"port -1", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.Interfaces[0].Ports[0].Port = -1 },
			"spec.domain.devices.interfaces[0].ports[0].port: Invalid value: -1: must be between 1 and 65535"},
		{"guest memory a byte under 1Mi", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Memory.Guest = ptr.To(resource.MustParse("1048575"))
			v.Spec.Domain.Resources.Requests[corev1.ResourceMemory] = resource.MustParse("1048575")
		}, `spec.domain.memory.guest: Invalid value: "1048575": must be at least 1Mi`},
		{"guest memory a byte over the limit", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Memory.Guest = ptr.To(resource.MustParse("2147483649"))
			v.Spec.Domain.Resources.Requests[corev1.ResourceMemory] = resource.MustParse("2Gi")
		}, `spec.domain.memory.guest: Invalid value: "2147483649": must not exceed resources.limits.memory (2Gi)`},
		{"cpu request a milli over the limit", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2001m")
		}, `spec.domain.resources.requests[cpu]: Invalid value: "2001m": must be less than or equal to the limit (2)`},
		{"empty disk of negative capacity", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Volumes[2].EmptyDisk.Capacity = resource.MustParse("-1")
		}, `spec.volumes[2].emptyDisk.capacity: Invalid value: "-1": must be greater than zero`},
		{"host disk create of zero capacity", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", HostDisk: &v1alpha1.HostDisk{Path: "/data/x.img", Type: v1alpha1.HostDiskExistsOrCreate, Capacity: ptr.To(resource.MustParse("0"))}}
		}, "spec.volumes[2].hostDisk.capacity: Required value: type DiskOrCreate needs the size of the image to create"},
		{"secure boot, smm absent", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Firmware.Bootloader = &v1alpha1.Bootloader{EFI: &v1alpha1.EFI{SecureBoot: ptr.To(true)}}
			v.Spec.Domain.Features.SMM = nil
		}, "spec.domain.firmware.bootloader.efi.secureBoot: Invalid value: true: Secure Boot needs features.smm enabled"},
		{"secure boot, no features", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Firmware.Bootloader = &v1alpha1.Bootloader{EFI: &v1alpha1.EFI{SecureBoot: ptr.To(true)}}
			v.Spec.Domain.Features = nil
		}, "spec.domain.firmware.bootloader.efi.secureBoot: Invalid value: true: Secure Boot needs features.smm enabled"},
		{"bad base64 of 33 bytes is cut to 32 in the error", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Volumes[1].CloudInitNoCloud.UserDataBase64 = strings.Repeat("!", 33)
		}, `spec.volumes[1].cloudInitNoCloud.userDataBase64: Invalid value: "` + strings.Repeat("!", 32) + `...": is not valid base64: illegal base64 data at input byte 0`},
		{"bad base64 of 32 bytes is shown whole", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Volumes[1].CloudInitNoCloud.UserDataBase64 = strings.Repeat("!", 32)
		}, `spec.volumes[1].cloudInitNoCloud.userDataBase64: Invalid value: "` + strings.Repeat("!", 32) + `": is not valid base64: illegal base64 data at input byte 0`},
		{"second disk with a boot order 0 is not recorded as a boot order", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Disks[1].BootOrder = ptr.To(uint(0))
			v.Spec.Domain.Devices.Disks[2].BootOrder = ptr.To(uint(0))
		}, "spec.domain.devices.disks[1].bootOrder: Invalid value: 0: must be at least 1\nspec.domain.devices.disks[2].bootOrder: Invalid value: 0: must be at least 1"},
		{"third pod network", func(v *v1alpha1.VirtualMachineInstance) {
			for _, n := range []string{"b", "c"} {
				v.Spec.Networks = append(v.Spec.Networks, v1alpha1.Network{Name: n, Pod: &v1alpha1.PodNetwork{}})
				v.Spec.Domain.Devices.Interfaces = append(v.Spec.Domain.Devices.Interfaces, v1alpha1.Interface{Name: n, Bridge: &v1alpha1.InterfaceBridge{}, Model: "virtio"})
			}
		}, "spec.networks[1].pod: Forbidden: at most one pod network\nspec.networks[2].pod: Forbidden: at most one pod network"},
		{"disk in two kinds plus lun", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Disks[2].LUN = &v1alpha1.LunTarget{Bus: v1alpha1.DiskBusSCSI}
			v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}
		}, `spec.domain.devices.disks[2]: Invalid value: "scratch": set exactly one of disk, cdrom and lun`},
		{"lun alongside no other kind and an empty bus", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Disks[2].Disk = nil
			v.Spec.Domain.Devices.Disks[2].LUN = &v1alpha1.LunTarget{}
			v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vmi := vmirulestest.Full()
			tc.mutate(vmi)
			var got []string
			for _, e := range vmirules.Validate(vmi) {
				got = append(got, e.Error())
			}
			if g := strings.Join(got, "\n"); g != tc.want {
				t.Errorf("errors:\n%s\nwant:\n%s", g, tc.want)
			}
		})
	}
}

func TestValidateUpdateAllowsAnUnchangedSpec(t *testing.T) {
	old := vmirulestest.Full()
	upd := old.DeepCopy()
	upd.Status.Phase = "Running"
	if errs := vmirules.ValidateUpdate(upd, old); len(errs) != 0 {
		t.Errorf("status change rejected: %v", errs)
	}
}
