// Package vmirulestest holds the VMI rules' table of mistakes, shared by
// the tests of vmirules (Validate itself) and of webhooks (the same table
// through the validating handler, as the API server calls it), so that
// both keep checking every case. Only tests import it.
package vmirulestest

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/webhooks/vmirules"
)

// Full is a valid, defaulted VMI using every supported kind of field.
func Full() *v1alpha1.VirtualMachineInstance {
	vmi := &v1alpha1.VirtualMachineInstance{}
	vmi.Name, vmi.Namespace = "full", "default"
	s := &vmi.Spec
	s.Domain.Memory = &v1alpha1.Memory{Guest: ptr.To(resource.MustParse("1Gi"))}
	s.Domain.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi"), corev1.ResourceCPU: resource.MustParse("2")}
	s.Domain.CPU = &v1alpha1.CPU{Cores: 2, Model: "host-model"}
	s.Domain.Firmware = &v1alpha1.Firmware{Serial: "abc-1", UUID: "5d307ca9-b3ef-428c-8861-06e72d69f223"}
	s.Domain.Features = &v1alpha1.Features{APIC: &v1alpha1.FeatureAPIC{}}
	s.Domain.Devices.Rng = &v1alpha1.Rng{}
	s.Domain.Devices.Disks = []v1alpha1.Disk{
		{Name: "root", BootOrder: ptr.To(uint(1)), Serial: "root-1"},
		{Name: "cloudinit", CDRom: &v1alpha1.CDRomTarget{}},
		{Name: "scratch", Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusSCSI}},
	}
	s.Volumes = []v1alpha1.Volume{
		{Name: "root", ContainerDisk: &v1alpha1.ContainerDiskSource{Image: "r.example/fedora:40"}},
		{Name: "cloudinit", CloudInitNoCloud: &v1alpha1.CloudInitNoCloudSource{UserDataBase64: "I2Nsb3VkLWNvbmZpZwo="}},
		{Name: "scratch", EmptyDisk: &v1alpha1.EmptyDiskSource{Capacity: resource.MustParse("1Gi")}},
	}
	s.Domain.Devices.Interfaces = []v1alpha1.Interface{{Name: "default", Masquerade: &v1alpha1.InterfaceMasquerade{},
		MacAddress: "02:00:00:00:00:01", Ports: []v1alpha1.Port{{Name: "ssh", Port: 22}}}}
	s.Networks = []v1alpha1.Network{{Name: "default", Pod: &v1alpha1.PodNetwork{VMNetworkCIDR: "10.0.2.0/24"}}}
	vmirules.Default(vmi)
	return vmi
}

// Case is one mistake: a mutation of Full and the exact errors validation
// must report for it, all at once, each as "field: message" (a
// StatusCause's Field and Message, which is what a client sees).
type Case struct {
	Name   string
	Mutate func(*v1alpha1.VirtualMachineInstance)
	Want   []string
}

// Invalid is the table of mistakes.
var Invalid = []Case{
	// metadata
	{"name with dots", func(v *v1alpha1.VirtualMachineInstance) { v.Name = "a.b" },
		[]string{`metadata.name: Invalid value: "a.b": must not contain dots`}},
	{"name too long", func(v *v1alpha1.VirtualMachineInstance) { v.Name = strings.Repeat("x", 50) },
		[]string{"metadata.name: Too long: may not be more than 49 bytes"}},
	// cpu
	{"too many vcpus", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.CPU.Sockets = 300 },
		[]string{"spec.domain.cpu: Invalid value: 600: cores*sockets*threads must be at most 512"}},
	{"cpu model with spaces", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.CPU.Model = "my cpu" },
		[]string{`spec.domain.cpu.model: Invalid value: "my cpu": must be host-passthrough, host-model or a libvirt CPU model name`}},
	{"cpu model with xml", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.CPU.Model = "<x/>" },
		[]string{`spec.domain.cpu.model: Invalid value: "<x/>": must be host-passthrough, host-model or a libvirt CPU model name`}},
	{"cpu request above limit", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("3")
	}, []string{`spec.domain.resources.requests[cpu]: Invalid value: "3": must be less than or equal to the limit (2)`}},
	// memory
	{"no memory at all", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Memory = nil
		delete(v.Spec.Domain.Resources.Requests, corev1.ResourceMemory)
	}, []string{"spec.domain.memory.guest: Required value: set memory.guest, resources.requests.memory or resources.limits.memory"}},
	{"negative cpu request", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("-1")
	}, []string{`spec.domain.resources.requests[cpu]: Invalid value: "-1": must not be negative`}},
	{"negative memory limit", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("-1Gi")
	}, []string{
		`spec.domain.resources.limits[memory]: Invalid value: "-1Gi": must not be negative`,
		`spec.domain.memory.guest: Invalid value: "1Gi": must not exceed resources.limits.memory (-1Gi)`,
		`spec.domain.resources.requests[memory]: Invalid value: "1Gi": must be less than or equal to the limit (-1Gi)`,
	}},
	{"guest memory above limit", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Memory.Guest = ptr.To(resource.MustParse("3Gi"))
	}, []string{`spec.domain.memory.guest: Invalid value: "3Gi": must not exceed resources.limits.memory (2Gi)`}},
	{"memory request above limit", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Resources.Requests[corev1.ResourceMemory] = resource.MustParse("4Gi")
	}, []string{`spec.domain.resources.requests[memory]: Invalid value: "4Gi": must be less than or equal to the limit (2Gi)`}},
	{"guest memory tiny", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Memory.Guest = ptr.To(resource.MustParse("512Ki"))
	},
		[]string{`spec.domain.memory.guest: Invalid value: "512Ki": must be at least 1Mi`}},
	// machine
	{"unknown machine", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Machine.Type = "virt" },
		[]string{`spec.domain.machine.type: Invalid value: "virt": must be q35, pc, pc-q35-<version> or pc-i440fx-<version>`}},
	{"machine with injection", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Machine.Type = "q35'/><x" },
		[]string{`spec.domain.machine.type: Invalid value: "q35'/><x": must be q35, pc, pc-q35-<version> or pc-i440fx-<version>`}},
	// firmware
	{"nothing to boot", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Disks, v.Spec.Volumes = nil, nil
	}, []string{"spec.domain.devices.disks: Required value: nothing to boot from: add a disk (with no bootOrder anywhere the first disk boots), give an interface a bootOrder, or set firmware.kernelBoot.container"}},
	{"bad firmware uuid", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Firmware.UUID = "not-a-uuid" },
		[]string{`spec.domain.firmware.uuid: Invalid value: "not-a-uuid": must be a UUID such as 5d307ca9-b3ef-428c-8861-06e72d69f223`}},
	{"bios and efi", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Firmware.Bootloader = &v1alpha1.Bootloader{BIOS: &v1alpha1.BIOS{}, EFI: &v1alpha1.EFI{SecureBoot: ptr.To(false)}}
	}, []string{`spec.domain.firmware.bootloader: Invalid value: "bios and efi": set one of bios and efi, not both`}},
	{"secure boot without smm", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Firmware.Bootloader = &v1alpha1.Bootloader{EFI: &v1alpha1.EFI{SecureBoot: ptr.To(true)}}
		v.Spec.Domain.Features.SMM = &v1alpha1.FeatureState{Enabled: ptr.To(false)}
	}, []string{"spec.domain.firmware.bootloader.efi.secureBoot: Invalid value: true: Secure Boot needs features.smm enabled"}},
	{"kernel boot without container", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Firmware.KernelBoot = &v1alpha1.KernelBoot{KernelArgs: "console=ttyS0"}
	}, []string{"spec.domain.firmware.kernelBoot.container: Required value: kernelArgs need the image holding the kernel"}},
	{"kernel boot without image and kernel", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Firmware.KernelBoot = &v1alpha1.KernelBoot{Container: &v1alpha1.KernelBootContainer{}}
	}, []string{"spec.domain.firmware.kernelBoot.container.image: Required value", "spec.domain.firmware.kernelBoot.container.kernelPath: Required value: the kernel's absolute path inside the image"}},
	{"relative kernel path", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Firmware.KernelBoot = &v1alpha1.KernelBoot{Container: &v1alpha1.KernelBootContainer{Image: "i", KernelPath: "boot/vmlinuz"}}
	}, []string{`spec.domain.firmware.kernelBoot.container.kernelPath: Invalid value: "boot/vmlinuz": must be an absolute, clean path (no '..', no trailing '/')`}},
	{"initrd path escaping", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Firmware.KernelBoot = &v1alpha1.KernelBoot{Container: &v1alpha1.KernelBootContainer{Image: "i", KernelPath: "/k", InitrdPath: "/boot/../../etc/shadow"}}
	}, []string{`spec.domain.firmware.kernelBoot.container.initrdPath: Invalid value: "/boot/../../etc/shadow": must be an absolute, clean path (no '..', no trailing '/')`}},
	{"kernel path with trailing slash", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Firmware.KernelBoot = &v1alpha1.KernelBoot{Container: &v1alpha1.KernelBootContainer{Image: "i", KernelPath: "/boot/"}}
	}, []string{`spec.domain.firmware.kernelBoot.container.kernelPath: Invalid value: "/boot/": must be an absolute, clean path (no '..', no trailing '/')`}},
	{"kernel args with control characters", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Firmware.KernelBoot = &v1alpha1.KernelBoot{KernelArgs: "console=ttyS0\x01", Container: &v1alpha1.KernelBootContainer{Image: "i", KernelPath: "/k"}}
	}, []string{`spec.domain.firmware.kernelBoot.kernelArgs: Invalid value: "console=ttyS0\x01": must not contain control characters`}},
	// features
	{"acpi disabled", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Features.ACPI.Enabled = ptr.To(false) },
		[]string{"spec.domain.features.acpi.enabled: Invalid value: false: ACPI cannot be disabled: podvirt shuts guests down with the ACPI power button"}},
	// disks
	{"disk without volume", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Disks = append(v.Spec.Domain.Devices.Disks, v1alpha1.Disk{Name: "data", Disk: &v1alpha1.DiskTarget{Bus: "virtio"}})
	}, []string{`spec.domain.devices.disks[3].name: Invalid value: "data": no volume of this name: every disk needs a volume of the same name`}},
	{"volume without disk", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes = append(v.Spec.Volumes, v1alpha1.Volume{Name: "spare", EmptyDisk: &v1alpha1.EmptyDiskSource{Capacity: resource.MustParse("1Gi")}})
	}, []string{`spec.volumes[3].name: Invalid value: "spare": no disk uses this volume (defaulting adds a disk of the same name: was the VMI defaulted?)`}},
	{"duplicate disk name", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Disks[2].Name = "root"
		v.Spec.Volumes = v.Spec.Volumes[:2]
	}, []string{`spec.domain.devices.disks[2].name: Duplicate value: "root (also disks[0])"`}},
	{"duplicate volume name", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[2].Name = "root"
		v.Spec.Domain.Devices.Disks = v.Spec.Domain.Devices.Disks[:2]
	}, []string{`spec.volumes[2].name: Duplicate value: "root (also volumes[0])"`}},
	{"disk name not a label", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Disks[2].Name = "Scratch"
		v.Spec.Volumes[2].Name = "Scratch"
	}, []string{
		`spec.domain.devices.disks[2].name: Invalid value: "Scratch": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		`spec.volumes[2].name: Invalid value: "Scratch": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
	}},
	{"empty disk name", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Disks[2].Name = ""
		v.Spec.Volumes[2].Name = ""
	}, []string{"spec.domain.devices.disks[2].name: Required value", "spec.volumes[2].name: Required value"}},
	{"disk and cdrom at once", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Disks[2].CDRom = &v1alpha1.CDRomTarget{Bus: "sata", ReadOnly: ptr.To(true)}
	}, []string{`spec.domain.devices.disks[2]: Invalid value: "scratch": set exactly one of disk, cdrom and lun`}},
	{"cdrom on virtio", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.Disks[1].CDRom.Bus = "virtio" },
		[]string{`spec.domain.devices.disks[1].cdrom.bus: Unsupported value: "virtio": supported values: "sata", "scsi"`}},
	{"read-only sata disk", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Disks[2].Disk = &v1alpha1.DiskTarget{Bus: "sata", ReadOnly: true}
	}, []string{"spec.domain.devices.disks[2].disk.readonly: Invalid value: true: a sata hard disk cannot be read-only: use bus virtio or scsi, or a cdrom"}},
	{"lun on sata", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Disks[2].Disk = nil
		v.Spec.Domain.Devices.Disks[2].LUN = &v1alpha1.LunTarget{Bus: "sata"}
		v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}
	}, []string{`spec.domain.devices.disks[2].lun.bus: Unsupported value: "sata": supported values: "scsi"`}},
	{"lun on an empty disk", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Disks[2].Disk = nil
		v.Spec.Domain.Devices.Disks[2].LUN = &v1alpha1.LunTarget{Bus: "scsi"}
	}, []string{`spec.domain.devices.disks[2].lun: Invalid value: "scratch": a lun needs a persistentVolumeClaim volume`}},
	{"boot order zero", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.Disks[2].BootOrder = ptr.To(uint(0)) },
		[]string{"spec.domain.devices.disks[2].bootOrder: Invalid value: 0: must be at least 1"}},
	{"duplicate boot order", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.Disks[2].BootOrder = ptr.To(uint(1)) },
		[]string{`spec.domain.devices.disks[2].bootOrder: Duplicate value: "1 (also disk root)"`}},
	{"interface boot order of a disk", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Interfaces[0].BootOrder = ptr.To(uint(1))
	}, []string{`spec.domain.devices.interfaces[0].bootOrder: Duplicate value: "1 (also disk root)"`}},
	// volumes
	{"volume with two sources", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[2].ContainerDisk = &v1alpha1.ContainerDiskSource{Image: "x"}
	}, []string{`spec.volumes[2]: Invalid value: "scratch": set exactly one of containerDisk, cloudInitNoCloud, emptyDisk, persistentVolumeClaim, ephemeral and hostDisk`}},
	{"volume with no source", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Volumes[2].EmptyDisk = nil },
		[]string{`spec.volumes[2]: Invalid value: "scratch": set exactly one of containerDisk, cloudInitNoCloud, emptyDisk, persistentVolumeClaim, ephemeral and hostDisk`}},
	{"container disk without image", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Volumes[0].ContainerDisk.Image = "" },
		[]string{"spec.volumes[0].containerDisk.image: Required value"}},
	{"container disk image with quotes", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[0].ContainerDisk.Image = `r.example/os:1"/><hostdev/>`
	},
		[]string{`spec.volumes[0].containerDisk.image: Invalid value: "r.example/os:1\"/><hostdev/>": is not an image reference: could not parse reference: r.example/os:1"/><hostdev/>`}},
	{"container disk relative path", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Volumes[0].ContainerDisk.Path = "disk/x.img" },
		[]string{`spec.volumes[0].containerDisk.path: Invalid value: "disk/x.img": must be an absolute, clean path (no '..', no trailing '/')`}},
	{"cloud-init bad base64", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[1].CloudInitNoCloud.UserDataBase64 = "not base64!"
	},
		[]string{`spec.volumes[1].cloudInitNoCloud.userDataBase64: Invalid value: "not base64!": is not valid base64: illegal base64 data at input byte 3`}},
	{"cloud-init bad network base64", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[1].CloudInitNoCloud.NetworkDataBase64 = "%%%%"
	},
		[]string{`spec.volumes[1].cloudInitNoCloud.networkDataBase64: Invalid value: "%%%%": is not valid base64: illegal base64 data at input byte 0`}},
	{"cloud-init two user data", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[1].CloudInitNoCloud.UserData = "#cloud-config"
	},
		[]string{`spec.volumes[1].cloudInitNoCloud: Invalid value: "cloudinit": set at most one of userData, userDataBase64 and secretRef`}},
	{"cloud-init no data", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Volumes[1].CloudInitNoCloud.UserDataBase64 = "" },
		[]string{`spec.volumes[1].cloudInitNoCloud: Invalid value: "cloudinit": set one of userData, userDataBase64 and secretRef, or networkData or networkDataBase64`}},
	{"cloud-init secret without name", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[1].CloudInitNoCloud.UserDataBase64 = ""
		v.Spec.Volumes[1].CloudInitNoCloud.UserDataSecretRef = &corev1.LocalObjectReference{}
	}, []string{"spec.volumes[1].cloudInitNoCloud.secretRef.name: Required value"}},
	{"cloud-init two network data", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[1].CloudInitNoCloud.NetworkData = "version: 2"
		v.Spec.Volumes[1].CloudInitNoCloud.NetworkDataBase64 = "dmVyc2lvbjogMgo="
	}, []string{`spec.volumes[1].cloudInitNoCloud: Invalid value: "cloudinit": set at most one of networkData and networkDataBase64`}},
	{"empty disk zero", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[2].EmptyDisk.Capacity = resource.MustParse("0")
	},
		[]string{`spec.volumes[2].emptyDisk.capacity: Invalid value: "0": must be greater than zero`}},
	{"pvc bad name", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: "My_Claim"}}
	}, []string{`spec.volumes[2].persistentVolumeClaim.claimName: Invalid value: "My_Claim": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`}},
	{"pvc no name", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{}}
	}, []string{`spec.volumes[2].persistentVolumeClaim.claimName: Invalid value: "": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`}},
	{"data volume", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", DataVolume: &v1alpha1.DataVolumeSource{Name: "fedora-dv"}}
	}, []string{"spec.volumes[2].dataVolume: Forbidden: a DataVolume needs KubeVirt's Containerized Data Importer (CDI), which podvirt does not run: import the disk image into a PersistentVolumeClaim (CDI, or any tool that writes disk.img into it) and use persistentVolumeClaim instead (docs/api.md)"}},
	{"host disk relative", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", HostDisk: &v1alpha1.HostDisk{Path: "data/x.img", Type: "Disk"}}
	}, []string{`spec.volumes[2].hostDisk.path: Invalid value: "data/x.img": must be an absolute, clean path (no '..', no trailing '/')`}},
	{"host disk escaping", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", HostDisk: &v1alpha1.HostDisk{Path: "/var/lib/podvirt/../../../etc/shadow", Type: "Disk"}}
	}, []string{`spec.volumes[2].hostDisk.path: Invalid value: "/var/lib/podvirt/../../../etc/shadow": must be an absolute, clean path (no '..', no trailing '/')`}},
	{"host disk create without capacity", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", HostDisk: &v1alpha1.HostDisk{Path: "/data/x.img", Type: "DiskOrCreate"}}
	}, []string{"spec.volumes[2].hostDisk.capacity: Required value: type DiskOrCreate needs the size of the image to create"}},
	{"host disk existing with capacity", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Volumes[2] = v1alpha1.Volume{Name: "scratch", HostDisk: &v1alpha1.HostDisk{Path: "/data/x.img", Type: "Disk", Capacity: ptr.To(resource.MustParse("1Gi"))}}
	}, []string{`spec.volumes[2].hostDisk.capacity: Invalid value: "1Gi": only type DiskOrCreate takes a capacity`}},
	// interfaces and networks
	{"interface without network", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Networks = nil },
		[]string{`spec.domain.devices.interfaces[0].name: Invalid value: "default": no network of this name: every interface needs a network of the same name`}},
	{"network without interface", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.Interfaces = nil },
		[]string{`spec.networks[0].name: Invalid value: "default": no interface uses this network: add an interface of the same name`}},
	{"two pod networks", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Networks = append(v.Spec.Networks, v1alpha1.Network{Name: "second", Pod: &v1alpha1.PodNetwork{}})
		v.Spec.Domain.Devices.Interfaces = append(v.Spec.Domain.Devices.Interfaces, v1alpha1.Interface{Name: "second", Bridge: &v1alpha1.InterfaceBridge{}, Model: "virtio"})
	}, []string{"spec.networks[1].pod: Forbidden: at most one pod network"}},
	{"network without source", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Networks[0].Pod = nil },
		[]string{"spec.networks[0].pod: Required value: the pod network is the only network source supported"}},
	{"bad vm network cidr", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Networks[0].Pod.VMNetworkCIDR = "10.0.2.0" },
		[]string{`spec.networks[0].pod.vmNetworkCIDR: Invalid value: "10.0.2.0": must be a CIDR such as 10.0.2.0/24`}},
	{"duplicate network", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Networks = append(v.Spec.Networks, v1alpha1.Network{Name: "default", Pod: &v1alpha1.PodNetwork{}})
	}, []string{`spec.networks[1].name: Duplicate value: "default"`, "spec.networks[1].pod: Forbidden: at most one pod network"}},
	{"duplicate interface", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Interfaces = append(v.Spec.Domain.Devices.Interfaces, v1alpha1.Interface{Name: "default", Bridge: &v1alpha1.InterfaceBridge{}})
	}, []string{`spec.domain.devices.interfaces[1].name: Duplicate value: "default"`}},
	{"interface both bindings", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Interfaces[0].Bridge = &v1alpha1.InterfaceBridge{}
	}, []string{`spec.domain.devices.interfaces[0]: Invalid value: "default": set exactly one of masquerade and bridge`}},
	{"interface no binding", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Interfaces[0].Masquerade = nil
		v.Spec.Domain.Devices.Interfaces[0].Ports = nil
	}, []string{`spec.domain.devices.interfaces[0]: Invalid value: "default": set exactly one of masquerade and bridge`}},
	{"bad mac", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Interfaces[0].MacAddress = "02:00:00:00:00"
	},
		[]string{`spec.domain.devices.interfaces[0].macAddress: Invalid value: "02:00:00:00:00": must be a 48-bit MAC address such as 02:00:00:00:00:01`}},
	{"multicast mac", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Interfaces[0].MacAddress = "01:00:5e:00:00:01"
	},
		[]string{`spec.domain.devices.interfaces[0].macAddress: Invalid value: "01:00:5e:00:00:01": must be a unicast address (the first octet's lowest bit clear)`}},
	{"ports on bridge", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Interfaces[0].Masquerade = nil
		v.Spec.Domain.Devices.Interfaces[0].Bridge = &v1alpha1.InterfaceBridge{}
	}, []string{"spec.domain.devices.interfaces[0].ports: Forbidden: ports are forwarded only to masquerade interfaces"}},
	{"port zero", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.Interfaces[0].Ports[0].Port = 0 },
		[]string{"spec.domain.devices.interfaces[0].ports[0].port: Invalid value: 0: must be between 1 and 65535"}},
	{"port too big", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.Interfaces[0].Ports[0].Port = 70000 },
		[]string{"spec.domain.devices.interfaces[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535"}},
	{"bad port name", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Interfaces[0].Ports[0].Name = "SSH_PORT"
	},
		[]string{
			`spec.domain.devices.interfaces[0].ports[0].name: Invalid value: "SSH_PORT": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`,
			`spec.domain.devices.interfaces[0].ports[0].name: Invalid value: "SSH_PORT": must contain at least one letter (a-z)`,
		}},
	{"duplicate port", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Interfaces[0].Ports = append(v.Spec.Domain.Devices.Interfaces[0].Ports, v1alpha1.Port{Port: 22, Protocol: "TCP"})
	}, []string{`spec.domain.devices.interfaces[0].ports[1]: Duplicate value: "TCP/22 (also ports[0])"`}},
	{"duplicate port name", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Interfaces[0].Ports = append(v.Spec.Domain.Devices.Interfaces[0].Ports, v1alpha1.Port{Name: "ssh", Port: 2222, Protocol: "TCP"})
	}, []string{`spec.domain.devices.interfaces[0].ports[1].name: Duplicate value: "ssh (also ports[0])"`}},
	{"interface boot order zero", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Interfaces[0].BootOrder = ptr.To(uint(0))
	},
		[]string{"spec.domain.devices.interfaces[0].bootOrder: Invalid value: 0: must be at least 1"}},
	// other spec fields
	{"negative grace", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.TerminationGracePeriodSeconds = ptr.To(int64(-1)) },
		[]string{"spec.terminationGracePeriodSeconds: Invalid value: -1: must be >= 0"}},
	{"hostname not a label", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Hostname = "my_host" },
		[]string{`spec.hostname: Invalid value: "my_host": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`}},
	{"subdomain not a label", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Subdomain = "a.b" },
		[]string{`spec.subdomain: Invalid value: "a.b": must not contain dots`}},
	{"live migration", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.EvictionStrategy = ptr.To(v1alpha1.EvictionStrategy("LiveMigrate"))
	}, []string{`spec.evictionStrategy: Invalid value: "LiveMigrate": only None is supported: podvirt has no live migration yet, so the guest is shut down with its Pod`}},
	{"external eviction", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.EvictionStrategy = ptr.To(v1alpha1.EvictionStrategy("External"))
	}, []string{`spec.evictionStrategy: Invalid value: "External": only None is supported: podvirt has no live migration yet, so the guest is shut down with its Pod`}},
	// several mistakes at once: all reported
	{"many at once", func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Machine.Type = "virt"
		v.Spec.Volumes[2].EmptyDisk.Capacity = resource.MustParse("0")
		v.Spec.Domain.Devices.Interfaces[0].MacAddress = "zz"
		v.Spec.TerminationGracePeriodSeconds = ptr.To(int64(-5))
	}, []string{
		`spec.domain.machine.type: Invalid value: "virt": must be q35, pc, pc-q35-<version> or pc-i440fx-<version>`,
		`spec.domain.devices.interfaces[0].macAddress: Invalid value: "zz": must be a 48-bit MAC address such as 02:00:00:00:00:01`,
		`spec.volumes[2].emptyDisk.capacity: Invalid value: "0": must be greater than zero`,
		"spec.terminationGracePeriodSeconds: Invalid value: -5: must be >= 0",
	}},
}
