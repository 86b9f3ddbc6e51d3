package vmirules

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// Defaults applied at admission. Each mirrors KubeVirt's (docs/api.md
// names the KubeVirt source of every rule and the few where podvirt
// differs, with the reason).
const (
	DefaultMachineType                   = "q35"
	DefaultTerminationGracePeriodSeconds = int64(30)
	// DefaultDiskBus is the bus of a disk or CD-ROM that names none.
	// KubeVirt picks SATA on x86_64 (pkg/defaults/amd64.go) because every
	// guest OS drives it without extra drivers; a KubeVirt VMI that boots
	// there, a Windows guest without virtio drivers included, boots here.
	DefaultDiskBus = v1alpha1.DiskBusSATA
	// DefaultLUNBus is the bus of a LUN that names none. KubeVirt gives
	// LUNs its SATA default too, but libvirt runs device="lun" only on
	// virtio or scsi, so podvirt keeps scsi, the one LUN bus it accepts.
	DefaultLUNBus = v1alpha1.DiskBusSCSI
)

// Default fills in what the user left out, as KubeVirt's mutating webhook
// does (pkg/defaults.SetDefaultVirtualMachineInstance). It is idempotent:
// defaulting a defaulted VMI changes nothing, so apiserver reinvocation is
// safe.
func Default(vmi *v1alpha1.VirtualMachineInstance) {
	spec := &vmi.Spec
	d := &spec.Domain

	if d.Machine == nil {
		d.Machine = &v1alpha1.Machine{}
	}
	if d.Machine.Type == "" {
		d.Machine.Type = DefaultMachineType
	}

	defaultCPURequest(d)
	defaultMemory(d)
	defaultCPU(d)
	defaultFirmware(d)
	// After defaultFirmware, which may add SMM.
	defaultFeatures(d)
	defaultClock(d.Clock)
	defaultInputs(d.Devices.Inputs)
	defaultNetworks(spec)
	// Before defaultDisks, so that the disks it adds get a kind and a bus.
	defaultVolumeDisks(spec)
	defaultDisks(d.Devices.Disks)

	if spec.EvictionStrategy == nil {
		spec.EvictionStrategy = ptr.To(v1alpha1.EvictionStrategyNone)
	}

	for i := range spec.Volumes {
		if cd := spec.Volumes[i].ContainerDisk; cd != nil && cd.ImagePullPolicy == "" {
			cd.ImagePullPolicy = containerDiskPullPolicy(cd.Image)
		}
	}
	if d.Devices.AutoattachSerialConsole == nil {
		d.Devices.AutoattachSerialConsole = ptr.To(true)
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptr.To(DefaultTerminationGracePeriodSeconds)
	}
}

// defaultCPURequest copies the CPU limit into an unset (or zero) CPU
// request, as KubeVirt's setDefaultResourceRequests does; Kubernetes would
// do the same to the launcher Pod, and the VMI then says what the Pod gets.
func defaultCPURequest(d *v1alpha1.DomainSpec) {
	limit, ok := d.Resources.Limits[corev1.ResourceCPU]
	if !ok || limit.IsZero() {
		return
	}
	if req, ok := d.Resources.Requests[corev1.ResourceCPU]; ok && !req.IsZero() {
		return
	}
	if d.Resources.Requests == nil {
		d.Resources.Requests = corev1.ResourceList{}
	}
	d.Resources.Requests[corev1.ResourceCPU] = limit.DeepCopy()
}

// defaultCPU sets the topology, as KubeVirt's SetDefaultGuestCPUTopology
// does: when no count is given (no cpu, or cpu with only a model), one
// socket per CPU of the limit (else the request), rounded up; then every
// unset count is 1, which is what KubeVirt's converter reads a 0 as.
func defaultCPU(d *v1alpha1.DomainSpec) {
	if d.CPU == nil {
		d.CPU = &v1alpha1.CPU{}
	}
	c := d.CPU
	if c.Cores == 0 && c.Sockets == 0 && c.Threads == 0 {
		cpu, ok := d.Resources.Limits[corev1.ResourceCPU]
		if !ok {
			cpu, ok = d.Resources.Requests[corev1.ResourceCPU]
		}
		if ok && cpu.MilliValue() > 0 {
			c.Sockets = uint32((cpu.MilliValue() + 999) / 1000)
		}
	}
	for _, v := range []*uint32{&c.Cores, &c.Sockets, &c.Threads} {
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
		fw.KernelBoot.Container.ImagePullPolicy = containerPullPolicy(fw.KernelBoot.Container.Image)
	}
	if bl := fw.Bootloader; bl != nil && bl.EFI != nil {
		if bl.EFI.SecureBoot == nil {
			bl.EFI.SecureBoot = ptr.To(true)
		}
		// Secure Boot needs SMM; turn it on unless the user said otherwise
		// (then validation explains the conflict). KubeVirt refuses
		// instead; podvirt accepts what KubeVirt would have to be told.
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

// defaultVolumeDisks gives every volume no disk uses a disk of the same
// name, appended in the volumes' order, as KubeVirt's SetDefaultVolumeDisk
// does: a KubeVirt VMI may list a volume alone and still see it as a disk.
// A volume without a name is left to validation.
func defaultVolumeDisks(spec *v1alpha1.VirtualMachineInstanceSpec) {
	devs := &spec.Domain.Devices
	for _, v := range spec.Volumes {
		if v.Name != "" && !hasDisk(devs.Disks, v.Name) {
			devs.Disks = append(devs.Disks, v1alpha1.Disk{Name: v.Name})
		}
	}
}

func hasDisk(disks []v1alpha1.Disk, name string) bool {
	for i := range disks {
		if disks[i].Name == name {
			return true
		}
	}
	return false
}

// defaultDisks makes a disk with no kind a hard disk (KubeVirt's
// SetDefaults_DiskDevice), makes CD-ROMs read-only (SetDefaults_CDRomTarget)
// and sets buses: DefaultDiskBus for disks and CD-ROMs, DefaultLUNBus for
// LUNs.
func defaultDisks(disks []v1alpha1.Disk) {
	for i := range disks {
		disk := &disks[i]
		if disk.Disk == nil && disk.CDRom == nil && disk.LUN == nil {
			disk.Disk = &v1alpha1.DiskTarget{}
		}
		if disk.Disk != nil && disk.Disk.Bus == "" {
			disk.Disk.Bus = DefaultDiskBus
		}
		if c := disk.CDRom; c != nil {
			if c.Bus == "" {
				c.Bus = DefaultDiskBus
			}
			if c.ReadOnly == nil {
				c.ReadOnly = ptr.To(true)
			}
		}
		if disk.LUN != nil && disk.LUN.Bus == "" {
			disk.LUN.Bus = DefaultLUNBus
		}
	}
}

// DefaultNetworkName names the pod network and interface added by default.
const DefaultNetworkName = "default"

// defaultNetworks adds the pod network with a masquerade interface when the
// VMI names no network and no interface, and fills interface models and
// port protocols. KubeVirt adds the interface its cluster configuration
// names (bridge unless changed) and recommends masquerade; podvirt has no
// such setting and adds masquerade.
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

// defaultMemory sets guest memory from requests.memory, else from
// limits.memory, as KubeVirt's setGuestMemory does; then an unset
// requests.memory from guest memory, so that the launcher Pod requests
// what the guest gets (KubeVirt computes that in its Pod template
// instead). With none of them set it leaves all empty, and validation
// says so.
func defaultMemory(d *v1alpha1.DomainSpec) {
	if d.Memory == nil || d.Memory.Guest == nil {
		var from *corev1.ResourceList
		if req, ok := d.Resources.Requests[corev1.ResourceMemory]; ok && !req.IsZero() {
			from = &d.Resources.Requests
		} else if limit, ok := d.Resources.Limits[corev1.ResourceMemory]; ok && !limit.IsZero() {
			from = &d.Resources.Limits
		}
		if from != nil {
			if d.Memory == nil {
				d.Memory = &v1alpha1.Memory{}
			}
			d.Memory.Guest = ptr.To((*from)[corev1.ResourceMemory].DeepCopy())
		}
	}
	if d.Memory == nil || d.Memory.Guest == nil {
		return
	}
	if _, ok := d.Resources.Requests[corev1.ResourceMemory]; !ok {
		if d.Resources.Requests == nil {
			d.Resources.Requests = corev1.ResourceList{}
		}
		d.Resources.Requests[corev1.ResourceMemory] = d.Memory.Guest.DeepCopy()
	}
}

// containerDiskPullPolicy is KubeVirt's rule for a containerDisk
// (setDefaultPullPoliciesOnContainerDisks): Always for a :latest image or
// one with neither a tag nor a digest, else IfNotPresent.
func containerDiskPullPolicy(image string) corev1.PullPolicy {
	if strings.HasSuffix(image, ":latest") || !strings.ContainsAny(image, ":@") {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// containerPullPolicy is Kubernetes' rule for a container, which is what a
// KubeVirt kernelBoot image gets (KubeVirt leaves its policy empty on the
// Pod's container): Always when the tag is latest, or there is neither a
// tag nor a digest; else IfNotPresent.
func containerPullPolicy(image string) corev1.PullPolicy {
	ref, digest := image, false
	if at := strings.IndexByte(ref, '@'); at >= 0 {
		ref, digest = ref[:at], true
	}
	tag := ""
	if c := strings.LastIndexByte(ref, ':'); c >= 0 && !strings.Contains(ref[c+1:], "/") {
		tag = ref[c+1:]
	}
	if tag == "latest" || tag == "" && !digest {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}
