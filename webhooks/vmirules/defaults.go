package vmirules

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// Defaults applied at admission. They mirror KubeVirt's where it has one.
const (
	DefaultMachineType                   = "q35"
	DefaultTerminationGracePeriodSeconds = int64(30)
)

// Default fills in what the user left out. It is idempotent: defaulting a
// defaulted VMI changes nothing, so apiserver reinvocation is safe.
func Default(vmi *v1alpha1.VirtualMachineInstance) {
	spec := &vmi.Spec
	d := &spec.Domain

	if d.Machine == nil {
		d.Machine = &v1alpha1.Machine{}
	}
	if d.Machine.Type == "" {
		d.Machine.Type = DefaultMachineType
	}

	defaultCPU(d)
	defaultMemory(d)
	defaultFirmware(d)
	defaultDisks(d.Devices.Disks)
	defaultNetworks(spec)

	if spec.EvictionStrategy == nil {
		spec.EvictionStrategy = ptr.To(v1alpha1.EvictionStrategyNone)
	}

	for i := range spec.Volumes {
		if cd := spec.Volumes[i].ContainerDisk; cd != nil && cd.ImagePullPolicy == "" {
			cd.ImagePullPolicy = corev1.PullIfNotPresent
		}
	}
	if d.Devices.AutoattachSerialConsole == nil {
		d.Devices.AutoattachSerialConsole = ptr.To(true)
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptr.To(DefaultTerminationGracePeriodSeconds)
	}
}

// defaultCPU sets the topology, as KubeVirt does: when none is given, one
// socket per CPU of the limit (or request), rounded up; unset counts are 1.
func defaultCPU(d *v1alpha1.DomainSpec) {
	if d.CPU == nil {
		d.CPU = &v1alpha1.CPU{}
		cpu, ok := d.Resources.Limits[corev1.ResourceCPU]
		if !ok {
			cpu, ok = d.Resources.Requests[corev1.ResourceCPU]
		}
		if ok && cpu.MilliValue() > 0 {
			d.CPU.Sockets = uint32((cpu.MilliValue() + 999) / 1000)
		}
	}
	for _, v := range []*uint32{&d.CPU.Cores, &d.CPU.Sockets, &d.CPU.Threads} {
		if *v == 0 {
			*v = 1
		}
	}
}

func defaultFirmware(d *v1alpha1.DomainSpec) {
	fw := d.Firmware
	if fw == nil {
		return
	}
	if fw.KernelBoot != nil && fw.KernelBoot.Container != nil && fw.KernelBoot.Container.ImagePullPolicy == "" {
		fw.KernelBoot.Container.ImagePullPolicy = corev1.PullIfNotPresent
	}
	if bl := fw.Bootloader; bl != nil && bl.EFI != nil {
		if bl.EFI.SecureBoot == nil {
			bl.EFI.SecureBoot = ptr.To(true)
		}
		// Secure Boot needs SMM; turn it on unless the user said otherwise
		// (then validation explains the conflict).
		if *bl.EFI.SecureBoot {
			if d.Features == nil {
				d.Features = &v1alpha1.Features{}
			}
			if d.Features.SMM == nil {
				d.Features.SMM = &v1alpha1.FeatureState{Enabled: ptr.To(true)}
			}
		}
	}
}

// defaultDisks makes a disk with no kind a hard disk, and sets buses:
// virtio for disks, sata for CD-ROMs, scsi for LUNs.
func defaultDisks(disks []v1alpha1.Disk) {
	for i := range disks {
		disk := &disks[i]
		if disk.Disk == nil && disk.CDRom == nil && disk.LUN == nil {
			disk.Disk = &v1alpha1.DiskTarget{}
		}
		if disk.Disk != nil && disk.Disk.Bus == "" {
			disk.Disk.Bus = v1alpha1.DiskBusVirtio
		}
		if c := disk.CDRom; c != nil {
			if c.Bus == "" {
				c.Bus = v1alpha1.DiskBusSATA
			}
			if c.ReadOnly == nil {
				c.ReadOnly = ptr.To(true)
			}
		}
		if disk.LUN != nil && disk.LUN.Bus == "" {
			disk.LUN.Bus = v1alpha1.DiskBusSCSI
		}
	}
}

// DefaultNetworkName names the pod network and interface added by default.
const DefaultNetworkName = "default"

// defaultNetworks adds the pod network with a masquerade interface when the
// VMI names no network and no interface, and fills interface models and
// port protocols.
func defaultNetworks(spec *v1alpha1.VirtualMachineInstanceSpec) {
	devs := &spec.Domain.Devices
	auto := devs.AutoattachPodInterface == nil || *devs.AutoattachPodInterface
	if auto && len(spec.Networks) == 0 && len(devs.Interfaces) == 0 {
		spec.Networks = []v1alpha1.Network{{Name: DefaultNetworkName, Pod: &v1alpha1.PodNetwork{}}}
		devs.Interfaces = []v1alpha1.Interface{{Name: DefaultNetworkName, Masquerade: &v1alpha1.InterfaceMasquerade{}}}
	}
	for i := range devs.Interfaces {
		iface := &devs.Interfaces[i]
		if iface.Model == "" {
			iface.Model = "virtio"
		}
		for j := range iface.Ports {
			if iface.Ports[j].Protocol == "" {
				iface.Ports[j].Protocol = "TCP"
			}
		}
	}
}

// defaultMemory sets guest memory from requests.memory and requests.memory
// from guest memory, as KubeVirt does. With neither set it leaves both
// empty, and validation says so.
func defaultMemory(d *v1alpha1.DomainSpec) {
	req, hasReq := d.Resources.Requests[corev1.ResourceMemory]
	hasGuest := d.Memory != nil && d.Memory.Guest != nil
	switch {
	case hasGuest && !hasReq:
		if d.Resources.Requests == nil {
			d.Resources.Requests = corev1.ResourceList{}
		}
		d.Resources.Requests[corev1.ResourceMemory] = d.Memory.Guest.DeepCopy()
	case !hasGuest && hasReq:
		if d.Memory == nil {
			d.Memory = &v1alpha1.Memory{}
		}
		d.Memory.Guest = ptr.To(req.DeepCopy())
	}
}
