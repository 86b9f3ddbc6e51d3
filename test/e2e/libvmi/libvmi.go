// Package libvmi builds VirtualMachineInstances for tests, the way
// KubeVirt's pkg/libvmi does: New(opts...) returns a typed object that
// each option changes, in order, so a later option overrides an earlier
// one.
//
//	vmi := libvmi.New(
//		libvmi.WithName("db"),
//		libvmi.WithMemory("1Gi"),
//		libvmi.WithContainerDisk("root", "registry.example.io/os:1"),
//	)
//
// NewTiny starts from the tiny guest the local environment serves
// (test/local/build-guest.sh).
package libvmi

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// Option changes a VMI under construction.
type Option func(*v1alpha1.VirtualMachineInstance)

// New returns a VMI with only its type set, then applies opts in order.
func New(opts ...Option) *v1alpha1.VirtualMachineInstance {
	vmi := &v1alpha1.VirtualMachineInstance{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "VirtualMachineInstance"},
	}
	for _, o := range opts {
		o(vmi)
	}
	return vmi
}

// WithNamespace sets metadata.namespace.
func WithNamespace(ns string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) { v.Namespace = ns }
}

// WithName sets metadata.name.
func WithName(name string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) { v.Name = name }
}

// WithLabel sets one label.
func WithLabel(key, value string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		if v.Labels == nil {
			v.Labels = map[string]string{}
		}
		v.Labels[key] = value
	}
}

// WithLabels sets labels, given as key, value, key, value...; an odd
// last key is ignored. WithLabels() alone makes the map without entries.
func WithLabels(kv ...string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		if v.Labels == nil {
			v.Labels = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Labels[kv[i]] = kv[i+1]
		}
	}
}

// WithAnnotation sets one annotation.
func WithAnnotation(key, value string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		if v.Annotations == nil {
			v.Annotations = map[string]string{}
		}
		v.Annotations[key] = value
	}
}

// WithMemory sets domain.memory.guest (a quantity such as "128Mi"); it
// panics on a malformed quantity, as resource.MustParse does.
func WithMemory(guest string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Memory = &v1alpha1.Memory{Guest: ptr.To(resource.MustParse(guest))}
	}
}

// WithResourceMemory sets domain.resources.requests.memory.
func WithResourceMemory(request string) Option {
	return withResource(true, corev1.ResourceMemory, request)
}

// WithLimitMemory sets domain.resources.limits.memory.
func WithLimitMemory(limit string) Option {
	return withResource(false, corev1.ResourceMemory, limit)
}

func withResource(request bool, name corev1.ResourceName, q string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		r := &v.Spec.Domain.Resources
		list := &r.Limits
		if request {
			list = &r.Requests
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = resource.MustParse(q)
	}
}

// WithCPU gives the guest cores cores on one socket, one thread each.
func WithCPU(cores uint32) Option {
	return WithCPUTopology(1, cores, 1)
}

// WithCPUTopology sets domain.cpu to sockets/cores/threads (0 leaves a
// field to its default).
func WithCPUTopology(sockets, cores, threads uint32) Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		model := ""
		if v.Spec.Domain.CPU != nil {
			model = v.Spec.Domain.CPU.Model
		}
		v.Spec.Domain.CPU = &v1alpha1.CPU{Sockets: sockets, Cores: cores, Threads: threads, Model: model}
	}
}

// WithCPUModel sets domain.cpu.model.
func WithCPUModel(model string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		if v.Spec.Domain.CPU == nil {
			v.Spec.Domain.CPU = &v1alpha1.CPU{}
		}
		v.Spec.Domain.CPU.Model = model
	}
}

// WithMachine sets domain.machine.type.
func WithMachine(typ string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Machine = &v1alpha1.Machine{Type: typ} }
}

// WithTerminationGracePeriod sets terminationGracePeriodSeconds.
func WithTerminationGracePeriod(seconds int64) Option {
	return func(v *v1alpha1.VirtualMachineInstance) { v.Spec.TerminationGracePeriodSeconds = ptr.To(seconds) }
}

// WithNodeSelector adds one nodeSelector entry.
func WithNodeSelector(key, value string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		if v.Spec.NodeSelector == nil {
			v.Spec.NodeSelector = map[string]string{}
		}
		v.Spec.NodeSelector[key] = value
	}
}

// WithNodeSelectorMap replaces the nodeSelector with a copy of sel.
func WithNodeSelectorMap(sel map[string]string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) { v.Spec.NodeSelector = maps.Clone(sel) }
}

// WithToleration adds a toleration.
func WithToleration(t corev1.Toleration) Option {
	return func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Tolerations = append(v.Spec.Tolerations, t) }
}

// WithPriorityClass sets priorityClassName.
func WithPriorityClass(name string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) { v.Spec.PriorityClassName = name }
}

// firmware returns domain.firmware, made if missing.
func firmware(v *v1alpha1.VirtualMachineInstance) *v1alpha1.Firmware {
	if v.Spec.Domain.Firmware == nil {
		v.Spec.Domain.Firmware = &v1alpha1.Firmware{}
	}
	return v.Spec.Domain.Firmware
}

// kernelBoot returns domain.firmware.kernelBoot, made if missing.
func kernelBoot(v *v1alpha1.VirtualMachineInstance) *v1alpha1.KernelBoot {
	f := firmware(v)
	if f.KernelBoot == nil {
		f.KernelBoot = &v1alpha1.KernelBoot{}
	}
	return f.KernelBoot
}

// WithKernelBoot boots the guest from the kernel (and initrd, when not
// empty) at those paths in image. The kernel command line is left as it
// is (WithKernelArgs).
func WithKernelBoot(image, kernelPath, initrdPath string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		kernelBoot(v).Container = &v1alpha1.KernelBootContainer{Image: image, KernelPath: kernelPath, InitrdPath: initrdPath}
	}
}

// WithKernelArgs sets the kernel command line of a kernel boot.
func WithKernelArgs(args string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) { kernelBoot(v).KernelArgs = args }
}

// WithKernelImagePullPolicy sets the kernel boot image's pull policy.
func WithKernelImagePullPolicy(p corev1.PullPolicy) Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		kb := kernelBoot(v)
		if kb.Container == nil {
			kb.Container = &v1alpha1.KernelBootContainer{}
		}
		kb.Container.ImagePullPolicy = p
	}
}

// WithFirmwareEFI boots through OVMF, with Secure Boot left to its
// default (on, as in KubeVirt).
func WithFirmwareEFI() Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		firmware(v).Bootloader = &v1alpha1.Bootloader{EFI: &v1alpha1.EFI{}}
	}
}

// WithFirmwareEFISecureBoot boots through OVMF with Secure Boot on or off.
func WithFirmwareEFISecureBoot(on bool) Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		firmware(v).Bootloader = &v1alpha1.Bootloader{EFI: &v1alpha1.EFI{SecureBoot: ptr.To(on)}}
	}
}

// WithFirmwareBIOS boots through SeaBIOS.
func WithFirmwareBIOS() Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		firmware(v).Bootloader = &v1alpha1.Bootloader{BIOS: &v1alpha1.BIOS{}}
	}
}

// WithFirmwareSerial sets the SMBIOS serial number the guest sees.
func WithFirmwareSerial(serial string) Option {
	return func(v *v1alpha1.VirtualMachineInstance) { firmware(v).Serial = serial }
}

// WithAutoattachPodInterface sets devices.autoattachPodInterface: false
// gives a guest without a network card unless one is added.
func WithAutoattachPodInterface(on bool) Option {
	return func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.AutoattachPodInterface = ptr.To(on) }
}

// WithAutoattachSerialConsole sets devices.autoattachSerialConsole.
func WithAutoattachSerialConsole(on bool) Option {
	return func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.AutoattachSerialConsole = ptr.To(on) }
}

// WithPodNetwork adds KubeVirt's default network, explicitly: a pod
// network named "default" and a masquerade interface on it.
func WithPodNetwork() Option {
	return WithInterface(v1alpha1.Interface{Name: "default", Masquerade: &v1alpha1.InterfaceMasquerade{}},
		v1alpha1.Network{Name: "default", Pod: &v1alpha1.PodNetwork{}})
}

// WithInterface adds an interface and the network it is attached to.
func WithInterface(iface v1alpha1.Interface, net v1alpha1.Network) Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		v.Spec.Domain.Devices.Interfaces = append(v.Spec.Domain.Devices.Interfaces, iface)
		v.Spec.Networks = append(v.Spec.Networks, net)
	}
}

// WithRng adds a virtio random number generator.
func WithRng() Option {
	return func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.Rng = &v1alpha1.Rng{} }
}

// DiskOption changes the disk a volume option adds.
type DiskOption func(*v1alpha1.Disk)

// DiskBus sets the disk's bus (virtio by default).
func DiskBus(bus v1alpha1.DiskBus) DiskOption {
	return func(d *v1alpha1.Disk) {
		if d.Disk == nil {
			d.Disk = &v1alpha1.DiskTarget{}
		}
		d.Disk.Bus = bus
	}
}

// DiskBootOrder sets the disk's boot order.
func DiskBootOrder(n uint) DiskOption {
	return func(d *v1alpha1.Disk) { d.BootOrder = ptr.To(n) }
}

// DiskSerial sets the disk's serial number.
func DiskSerial(s string) DiskOption {
	return func(d *v1alpha1.Disk) { d.Serial = s }
}

// DiskKindDefault leaves the disk's kind (disk, cdrom, lun) to the
// defaulting webhook: the disk has only its name.
func DiskKindDefault() DiskOption {
	return func(d *v1alpha1.Disk) { d.Disk, d.CDRom, d.LUN = nil, nil, nil }
}

// WithDisk adds a disk named name (a virtio hard disk unless opts say
// otherwise) backed by the volume vol, which is renamed to name.
func WithDisk(name string, vol v1alpha1.Volume, opts ...DiskOption) Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		d := v1alpha1.Disk{Name: name, Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusVirtio}}
		for _, o := range opts {
			o(&d)
		}
		vol.Name = name
		v.Spec.Domain.Devices.Disks = append(v.Spec.Domain.Devices.Disks, d)
		v.Spec.Volumes = append(v.Spec.Volumes, vol)
	}
}

// ContainerDiskOption changes a containerDisk volume.
type ContainerDiskOption func(*v1alpha1.ContainerDiskSource)

// ContainerDiskPath sets the disk image's path inside the image.
func ContainerDiskPath(p string) ContainerDiskOption {
	return func(c *v1alpha1.ContainerDiskSource) { c.Path = p }
}

// ContainerDiskPullPolicy sets the image's pull policy.
func ContainerDiskPullPolicy(p corev1.PullPolicy) ContainerDiskOption {
	return func(c *v1alpha1.ContainerDiskSource) { c.ImagePullPolicy = p }
}

// WithContainerDisk adds a virtio disk backed by a containerDisk volume.
func WithContainerDisk(name, image string, opts ...ContainerDiskOption) Option {
	src := &v1alpha1.ContainerDiskSource{Image: image}
	for _, o := range opts {
		o(src)
	}
	return WithDisk(name, v1alpha1.Volume{ContainerDisk: src})
}

// NoCloudOption changes a cloudInitNoCloud volume.
type NoCloudOption func(*v1alpha1.CloudInitNoCloudSource)

// NoCloudUserData sets the user data, in clear.
func NoCloudUserData(data string) NoCloudOption {
	return func(c *v1alpha1.CloudInitNoCloudSource) { c.UserData = data }
}

// NoCloudUserDataBase64 sets the user data, base64-encoded.
func NoCloudUserDataBase64(data string) NoCloudOption {
	return func(c *v1alpha1.CloudInitNoCloudSource) { c.UserDataBase64 = data }
}

// NoCloudUserDataSecret takes the user data from the Secret's "userdata" key.
func NoCloudUserDataSecret(name string) NoCloudOption {
	return func(c *v1alpha1.CloudInitNoCloudSource) {
		c.UserDataSecretRef = &corev1.LocalObjectReference{Name: name}
	}
}

// NoCloudNetworkData sets the network configuration, in clear.
func NoCloudNetworkData(data string) NoCloudOption {
	return func(c *v1alpha1.CloudInitNoCloudSource) { c.NetworkData = data }
}

// NoCloudNetworkDataBase64 sets the network configuration, base64-encoded.
func NoCloudNetworkDataBase64(data string) NoCloudOption {
	return func(c *v1alpha1.CloudInitNoCloudSource) { c.NetworkDataBase64 = data }
}

// WithCloudInitNoCloud adds a virtio disk backed by a cloudInitNoCloud
// volume.
func WithCloudInitNoCloud(name string, opts ...NoCloudOption) Option {
	src := &v1alpha1.CloudInitNoCloudSource{}
	for _, o := range opts {
		o(src)
	}
	return WithDisk(name, v1alpha1.Volume{CloudInitNoCloud: src})
}

// WithEmptyDisk adds a virtio disk backed by a blank emptyDisk volume of
// the given capacity ("1Gi").
func WithEmptyDisk(name, capacity string, opts ...DiskOption) Option {
	return WithDisk(name, v1alpha1.Volume{EmptyDisk: &v1alpha1.EmptyDiskSource{Capacity: resource.MustParse(capacity)}}, opts...)
}

// WithPersistentVolumeClaim adds a virtio disk backed by the PVC claim.
func WithPersistentVolumeClaim(name, claim string) Option {
	return WithDisk(name, v1alpha1.Volume{PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: claim}})
}

// WithEphemeralClaim adds a virtio disk backed by an ephemeral volume: the
// claim's disk.img under an overlay discarded with the VMI.
func WithEphemeralClaim(name, claim string) Option {
	return WithDisk(name, v1alpha1.Volume{Ephemeral: &v1alpha1.EphemeralVolumeSource{
		PersistentVolumeClaim: &v1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
}

// WithHostDisk adds a virtio disk backed by a hostDisk volume.
func WithHostDisk(name, path string, typ v1alpha1.HostDiskType) Option {
	return WithDisk(name, v1alpha1.Volume{HostDisk: &v1alpha1.HostDisk{Path: path, Type: typ}})
}

// Options composes options into one.
func Options(opts ...Option) Option {
	return func(v *v1alpha1.VirtualMachineInstance) {
		for _, o := range opts {
			o(v)
		}
	}
}
