package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// VirtualMachineInstance is a running virtual machine. podvirt renders it into
// a launcher Pod whose node agent runs the guest under libvirt.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vmi;vmis,categories=all;podvirt
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.nodeName`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VirtualMachineInstance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired virtual machine. It cannot change after creation.
	Spec VirtualMachineInstanceSpec `json:"spec"`

	// Status is what podvirt observed of the virtual machine.
	// +optional
	Status VirtualMachineInstanceStatus `json:"status,omitempty"`
}

// VirtualMachineInstanceList is a list of VirtualMachineInstances.
//
// +kubebuilder:object:root=true
type VirtualMachineInstanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachineInstance `json:"items"`
}

// VirtualMachineInstanceSpec describes a virtual machine, in KubeVirt's shape.
// Fields KubeVirt has and podvirt does not support are rejected by the
// schema, naming the field, never dropped.
type VirtualMachineInstanceSpec struct {
	// Domain is the virtual hardware: CPU, memory, firmware and devices.
	Domain DomainSpec `json:"domain"`

	// Volumes are the storage the disks refer to, by name.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Volumes []Volume `json:"volumes,omitempty"`

	// Networks are the networks the interfaces refer to, by name. Defaults
	// to one pod network named "default" when no interface is given and
	// devices.autoattachPodInterface is not false.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Networks []Network `json:"networks,omitempty"`

	// NodeSelector is copied to the launcher Pod: the VM runs only on nodes
	// carrying these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Affinity is copied to the launcher Pod.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// Tolerations are copied to the launcher Pod.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// PriorityClassName is copied to the launcher Pod.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// TerminationGracePeriodSeconds is how long the guest gets to power off
	// after an ACPI shutdown request before it is destroyed. Defaults to 30.
	// +kubebuilder:validation:Minimum=0
	// +optional
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`

	// Hostname is the guest's hostname (given to it through cloud-init).
	// Defaults to the VMI name.
	// +optional
	Hostname string `json:"hostname,omitempty"`

	// Subdomain is the guest's subdomain, as for Pods.
	// +optional
	Subdomain string `json:"subdomain,omitempty"`

	// EvictionStrategy is what happens when the node is drained. Only None
	// (the guest is shut down with its Pod) is supported: podvirt has no live
	// migration yet. Defaults to None.
	// +optional
	EvictionStrategy *EvictionStrategy `json:"evictionStrategy,omitempty"`
}

// EvictionStrategy is what happens to the guest when its node is drained.
type EvictionStrategy string

// Eviction strategies. KubeVirt's others (LiveMigrate, LiveMigrateIfPossible,
// External) are rejected by validation with a message saying why.
const (
	EvictionStrategyNone EvictionStrategy = "None"
)

// DomainSpec is the virtual hardware of the guest.
type DomainSpec struct {
	// Resources are the launcher Pod's requests and limits for the guest.
	// requests.memory defaults to memory.guest and memory.guest to
	// requests.memory.
	// +optional
	Resources ResourceRequirements `json:"resources,omitempty"`

	// CPU is the guest's processor topology. When it is not given, the guest
	// gets one socket per CPU of resources.limits.cpu (or requests.cpu),
	// rounded up, with one core and one thread each; else 1/1/1.
	// +optional
	CPU *CPU `json:"cpu,omitempty"`

	// Memory is the guest's memory.
	// +optional
	Memory *Memory `json:"memory,omitempty"`

	// Machine is the emulated machine. Defaults to type q35.
	// +optional
	Machine *Machine `json:"machine,omitempty"`

	// Firmware is how the guest boots.
	// +optional
	Firmware *Firmware `json:"firmware,omitempty"`

	// Features are hypervisor features exposed to the guest. ACPI is always
	// on: a graceful shutdown is an ACPI power button press.
	// +optional
	Features *Features `json:"features,omitempty"`

	// Devices are the guest's devices.
	// +optional
	Devices Devices `json:"devices,omitempty"`
}

// ResourceRequirements are the compute resources of the guest.
type ResourceRequirements struct {
	// Requests is the minimum amount of compute resources required.
	// +optional
	Requests corev1.ResourceList `json:"requests,omitempty"`
	// Limits is the maximum amount of compute resources allowed.
	// +optional
	Limits corev1.ResourceList `json:"limits,omitempty"`
}

// CPU is the guest's processor topology. vCPUs = cores * sockets * threads.
type CPU struct {
	// Cores is the number of cores per socket. Defaults to 1.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Cores uint32 `json:"cores,omitempty"`
	// Sockets is the number of sockets. Defaults to 1.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Sockets uint32 `json:"sockets,omitempty"`
	// Threads is the number of threads per core. Defaults to 1.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Threads uint32 `json:"threads,omitempty"`
	// Model is the CPU model: host-passthrough, host-model, or a libvirt
	// model name such as Haswell-noTSX. Empty: the hypervisor's default.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Model string `json:"model,omitempty"`
}

// Memory is the guest's memory.
type Memory struct {
	// Guest is the memory the guest sees. Defaults to
	// domain.resources.requests.memory.
	// +optional
	Guest *resource.Quantity `json:"guest,omitempty"`
}

// Machine is the emulated machine.
type Machine struct {
	// Type is the QEMU machine type: q35, pc, or a versioned pc-q35-* or
	// pc-i440fx-* type. Defaults to q35.
	// +optional
	Type string `json:"type,omitempty"`
}

// Firmware is how the guest boots.
type Firmware struct {
	// UUID is the SMBIOS system UUID the guest sees. Defaults to the VMI's
	// UID, which is also the libvirt domain UUID.
	// +optional
	UUID types.UID `json:"uuid,omitempty"`
	// Bootloader is BIOS or EFI. Defaults to BIOS.
	// +optional
	Bootloader *Bootloader `json:"bootloader,omitempty"`
	// Serial is the SMBIOS system serial number the guest sees.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Serial string `json:"serial,omitempty"`
	// KernelBoot boots the guest from a kernel and initrd taken from a
	// container image.
	// +optional
	KernelBoot *KernelBoot `json:"kernelBoot,omitempty"`
}

// Bootloader is the guest's firmware: BIOS or EFI, not both.
type Bootloader struct {
	// BIOS boots with SeaBIOS.
	// +optional
	BIOS *BIOS `json:"bios,omitempty"`
	// EFI boots with OVMF.
	// +optional
	EFI *EFI `json:"efi,omitempty"`
}

// BIOS is legacy firmware.
type BIOS struct {
	// UseSerial sends the BIOS output to the serial console. Defaults to false.
	// +optional
	UseSerial *bool `json:"useSerial,omitempty"`
}

// EFI is UEFI firmware.
type EFI struct {
	// SecureBoot enables Secure Boot; it needs features.smm enabled.
	// Defaults to true, as in KubeVirt.
	// +optional
	SecureBoot *bool `json:"secureBoot,omitempty"`
}

// KernelBoot boots the guest directly from a kernel (and optional initrd).
type KernelBoot struct {
	// KernelArgs is the kernel command line.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	KernelArgs string `json:"kernelArgs,omitempty"`
	// Container is the image that holds the kernel and initrd.
	// +optional
	Container *KernelBootContainer `json:"container,omitempty"`
}

// KernelBootContainer is an image holding a kernel and initrd at given paths.
type KernelBootContainer struct {
	// Image is the image reference, for example registry.example/guest:1.0.
	Image string `json:"image"`
	// ImagePullSecret names a Secret in the VMI's namespace with registry
	// credentials.
	// +optional
	ImagePullSecret string `json:"imagePullSecret,omitempty"`
	// KernelPath is the absolute path of the kernel inside the image.
	// +optional
	KernelPath string `json:"kernelPath,omitempty"`
	// InitrdPath is the absolute path of the initrd inside the image.
	// +optional
	InitrdPath string `json:"initrdPath,omitempty"`
	// ImagePullPolicy is when the node pulls the image. Defaults to
	// IfNotPresent.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
}

// Features are hypervisor features exposed to the guest.
type Features struct {
	// ACPI is always enabled; setting enabled: false is rejected.
	// +optional
	ACPI FeatureState `json:"acpi,omitempty"`
	// APIC exposes an APIC. Enabled when features is given and apic is not
	// disabled.
	// +optional
	APIC *FeatureAPIC `json:"apic,omitempty"`
	// SMM enables System Management Mode (needed by EFI Secure Boot).
	// +optional
	SMM *FeatureState `json:"smm,omitempty"`
}

// FeatureState switches a feature.
type FeatureState struct {
	// Enabled switches the feature. Defaults to true when the feature is given.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
}

// FeatureAPIC switches the APIC.
type FeatureAPIC struct {
	// Enabled switches the APIC. Defaults to true.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// EndOfInterrupt enables the EOI feature of the APIC.
	// +optional
	EndOfInterrupt bool `json:"endOfInterrupt,omitempty"`
}

// Devices are the guest's devices.
type Devices struct {
	// Disks are the guest's block devices, each backed by the volume of the
	// same name.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Disks []Disk `json:"disks,omitempty"`
	// Interfaces are the guest's network interfaces, each attached to the
	// network of the same name. Defaults to one masquerade interface named
	// "default" when no network is given and autoattachPodInterface is not
	// false.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Interfaces []Interface `json:"interfaces,omitempty"`
	// AutoattachPodInterface adds the default pod network interface when
	// none is given. Defaults to true.
	// +optional
	AutoattachPodInterface *bool `json:"autoattachPodInterface,omitempty"`
	// AutoattachSerialConsole attaches a serial console to the guest.
	// Defaults to true.
	// +optional
	AutoattachSerialConsole *bool `json:"autoattachSerialConsole,omitempty"`
	// AutoattachGraphicsDevice attaches a VGA device and a VNC server on a
	// unix socket. Defaults to false (KubeVirt defaults to true; podvirt has
	// no VNC proxy yet).
	// +optional
	AutoattachGraphicsDevice *bool `json:"autoattachGraphicsDevice,omitempty"`
	// Rng attaches a virtio random number generator fed by the host's
	// /dev/urandom.
	// +optional
	Rng *Rng `json:"rng,omitempty"`
}

// Disk is a guest block device. Exactly one of disk, cdrom and lun is set;
// disk{} is the default.
type Disk struct {
	// Name is the disk's name; the volume of the same name backs it.
	Name string `json:"name"`
	// Disk is a hard disk.
	// +optional
	Disk *DiskTarget `json:"disk,omitempty"`
	// CDRom is a CD-ROM drive.
	// +optional
	CDRom *CDRomTarget `json:"cdrom,omitempty"`
	// LUN is a SCSI LUN passed to the guest.
	// +optional
	LUN *LunTarget `json:"lun,omitempty"`
	// BootOrder is the disk's place in the boot order, from 1. Disks
	// without one are not boot devices.
	// +kubebuilder:validation:Minimum=1
	// +optional
	BootOrder *uint `json:"bootOrder,omitempty"`
	// Serial is the disk's serial number as the guest sees it.
	// +kubebuilder:validation:MaxLength=36
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.+-]+$`
	// +optional
	Serial string `json:"serial,omitempty"`
}

// DiskBus is how a disk is attached.
// +kubebuilder:validation:Enum=virtio;sata;scsi
type DiskBus string

// Disk buses.
const (
	DiskBusVirtio DiskBus = "virtio"
	DiskBusSATA   DiskBus = "sata"
	DiskBusSCSI   DiskBus = "scsi"
)

// DiskTarget is a hard disk.
type DiskTarget struct {
	// Bus is virtio, sata or scsi. Defaults to virtio.
	// +optional
	Bus DiskBus `json:"bus,omitempty"`
	// ReadOnly makes the disk read-only. Defaults to false.
	// +optional
	ReadOnly bool `json:"readonly,omitempty"`
}

// CDRomTarget is a CD-ROM drive.
type CDRomTarget struct {
	// Bus is sata or scsi. Defaults to sata.
	// +optional
	Bus DiskBus `json:"bus,omitempty"`
	// ReadOnly is always true for a CD-ROM. Defaults to true.
	// +optional
	ReadOnly *bool `json:"readonly,omitempty"`
}

// LunTarget is a SCSI LUN.
type LunTarget struct {
	// Bus is scsi. Defaults to scsi.
	// +optional
	Bus DiskBus `json:"bus,omitempty"`
	// ReadOnly makes the LUN read-only. Defaults to false.
	// +optional
	ReadOnly bool `json:"readonly,omitempty"`
}

// Interface is a guest network interface. Exactly one of masquerade and
// bridge is set.
type Interface struct {
	// Name is the interface's name; the network of the same name backs it.
	Name string `json:"name"`
	// Model is the emulated NIC: virtio, e1000, e1000e, rtl8139. Defaults to
	// virtio.
	// +kubebuilder:validation:Enum=virtio;e1000;e1000e;rtl8139
	// +optional
	Model string `json:"model,omitempty"`
	// Masquerade connects the guest through NAT behind the Pod's address.
	// +optional
	Masquerade *InterfaceMasquerade `json:"masquerade,omitempty"`
	// Bridge connects the guest to the Pod's network directly, giving it
	// the Pod's address.
	// +optional
	Bridge *InterfaceBridge `json:"bridge,omitempty"`
	// MacAddress is the interface's MAC address, for example
	// 02:00:00:00:00:01. Generated by libvirt when empty.
	// +optional
	MacAddress string `json:"macAddress,omitempty"`
	// Ports are the ports forwarded to a masquerade interface. Empty: all.
	// +listType=atomic
	// +optional
	Ports []Port `json:"ports,omitempty"`
	// BootOrder is the interface's place in the boot order (PXE), from 1.
	// +kubebuilder:validation:Minimum=1
	// +optional
	BootOrder *uint `json:"bootOrder,omitempty"`
}

// InterfaceMasquerade is NAT behind the Pod's address.
type InterfaceMasquerade struct{}

// InterfaceBridge bridges the guest onto the Pod's network.
type InterfaceBridge struct{}

// Port is a port forwarded to a masquerade interface.
type Port struct {
	// Name names the port.
	// +optional
	Name string `json:"name,omitempty"`
	// Protocol is TCP or UDP. Defaults to TCP.
	// +kubebuilder:validation:Enum=TCP;UDP
	// +optional
	Protocol string `json:"protocol,omitempty"`
	// Port is the port number.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
}

// Rng is a virtio random number generator.
type Rng struct{}

// Volume is storage a disk refers to. Exactly one source is set.
type Volume struct {
	// Name is the volume's name, a DNS label; a disk of the same name uses it.
	Name string `json:"name"`
	// ContainerDisk is a disk image shipped in a container image; writes go
	// to a copy that is discarded with the VMI.
	// +optional
	ContainerDisk *ContainerDiskSource `json:"containerDisk,omitempty"`
	// CloudInitNoCloud is cloud-init's NoCloud data source, as a disk.
	// +optional
	CloudInitNoCloud *CloudInitNoCloudSource `json:"cloudInitNoCloud,omitempty"`
	// EmptyDisk is a blank disk that lives and dies with the VMI.
	// +optional
	EmptyDisk *EmptyDiskSource `json:"emptyDisk,omitempty"`
	// PersistentVolumeClaim is a disk on a PVC in the VMI's namespace.
	// +optional
	PersistentVolumeClaim *PersistentVolumeClaimVolumeSource `json:"persistentVolumeClaim,omitempty"`
	// HostDisk is a disk image on the node's filesystem. The default policy
	// denies it; node agents accept only paths under their own directory.
	// +optional
	HostDisk *HostDisk `json:"hostDisk,omitempty"`
}

// ContainerDiskSource is a disk image inside a container image.
type ContainerDiskSource struct {
	// Image is the image reference.
	Image string `json:"image"`
	// ImagePullSecret names a Secret with registry credentials.
	// +optional
	ImagePullSecret string `json:"imagePullSecret,omitempty"`
	// Path is the disk image's path inside the image. Defaults to the only
	// file under /disk.
	// +optional
	Path string `json:"path,omitempty"`
	// ImagePullPolicy is when the node pulls the image. Defaults to
	// IfNotPresent.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
}

// CloudInitNoCloudSource is cloud-init NoCloud user and network data.
// Exactly one of userData, userDataBase64 and secretRef is set.
type CloudInitNoCloudSource struct {
	// UserDataSecretRef names a Secret whose "userdata" key holds the user data.
	// +optional
	UserDataSecretRef *corev1.LocalObjectReference `json:"secretRef,omitempty"`
	// UserDataBase64 is the user data, base64-encoded.
	// +optional
	UserDataBase64 string `json:"userDataBase64,omitempty"`
	// UserData is the user data.
	// +optional
	UserData string `json:"userData,omitempty"`
	// NetworkData is the network configuration (version 2).
	// +optional
	NetworkData string `json:"networkData,omitempty"`
	// NetworkDataBase64 is the network configuration, base64-encoded.
	// +optional
	NetworkDataBase64 string `json:"networkDataBase64,omitempty"`
}

// EmptyDiskSource is a blank disk.
type EmptyDiskSource struct {
	// Capacity is the disk's size.
	Capacity resource.Quantity `json:"capacity"`
}

// PersistentVolumeClaimVolumeSource is a PVC holding a disk.
type PersistentVolumeClaimVolumeSource struct {
	// ClaimName is the PVC's name in the VMI's namespace.
	ClaimName string `json:"claimName"`
	// ReadOnly attaches the PVC read-only. Defaults to false.
	// +optional
	ReadOnly bool `json:"readOnly,omitempty"`
}

// HostDiskType says whether a host disk image must exist.
// +kubebuilder:validation:Enum=Disk;DiskOrCreate
type HostDiskType string

// Host disk types.
const (
	HostDiskExists         HostDiskType = "Disk"
	HostDiskExistsOrCreate HostDiskType = "DiskOrCreate"
)

// HostDisk is a disk image on the node.
type HostDisk struct {
	// Path is the image's absolute path on the node.
	Path string `json:"path"`
	// Type is Disk (must exist) or DiskOrCreate.
	Type HostDiskType `json:"type"`
	// Capacity is the size of an image created by DiskOrCreate.
	// +optional
	Capacity *resource.Quantity `json:"capacity,omitempty"`
}

// Network is a network an interface attaches to. Exactly one source is set.
type Network struct {
	// Name is the network's name; the interface of the same name uses it.
	Name string `json:"name"`
	// Pod is the Pod's own network.
	// +optional
	Pod *PodNetwork `json:"pod,omitempty"`
}

// PodNetwork is the Pod's network.
type PodNetwork struct {
	// VMNetworkCIDR is the guest-side subnet of a masquerade interface.
	// Defaults to 10.0.2.0/24.
	// +optional
	VMNetworkCIDR string `json:"vmNetworkCIDR,omitempty"`
}

// VirtualMachineInstancePhase is where a VirtualMachineInstance is in its life.
// +kubebuilder:validation:Enum=Pending;Scheduling;Scheduled;Running;Succeeded;Failed;Unknown
type VirtualMachineInstancePhase string

// The phases of a VirtualMachineInstance.
const (
	// Pending: admitted, no launcher Pod yet.
	Pending VirtualMachineInstancePhase = "Pending"
	// Scheduling: the launcher Pod exists and waits for a node.
	Scheduling VirtualMachineInstancePhase = "Scheduling"
	// Scheduled: the launcher Pod is bound to a node; the guest is not up yet.
	Scheduled VirtualMachineInstancePhase = "Scheduled"
	// Running: the guest is running.
	Running VirtualMachineInstancePhase = "Running"
	// Succeeded: the guest powered off.
	Succeeded VirtualMachineInstancePhase = "Succeeded"
	// Failed: the guest crashed or could not start.
	Failed VirtualMachineInstancePhase = "Failed"
	// Unknown: the node agent lost track of the guest.
	Unknown VirtualMachineInstancePhase = "Unknown"
)

// Condition types of a VirtualMachineInstance.
const (
	// ConditionReady is true while the guest runs.
	ConditionReady = "Ready"
)

// VirtualMachineInstanceStatus is what podvirt observed of the guest.
type VirtualMachineInstanceStatus struct {
	// Phase is where the VMI is in its life.
	// +optional
	Phase VirtualMachineInstancePhase `json:"phase,omitempty"`
	// NodeName is the node that runs the guest.
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// LauncherPodName is the name of the launcher Pod.
	// +optional
	LauncherPodName string `json:"launcherPodName,omitempty"`
	// Reason says why the VMI is in its phase, for Failed and Succeeded.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Conditions are the latest observations of the VMI's state.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
