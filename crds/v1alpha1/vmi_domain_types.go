package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
)

// DomainSpec is the virtual hardware of the guest.
type DomainSpec struct {
	// Resources are the launcher Pod's requests and limits for the guest.
	// requests.memory defaults to memory.guest, memory.guest to
	// requests.memory (else limits.memory), and requests.cpu to
	// limits.cpu.
	// +optional
	Resources ResourceRequirements `json:"resources,omitempty"`

	// CPU is the guest's processor topology. When it gives no count (it is
	// not given, or gives only a model), the guest gets one socket per CPU
	// of resources.limits.cpu (or requests.cpu), rounded up, with one core
	// and one thread each; else 1/1/1. Unset counts are 1.
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
	// domain.resources.requests.memory, else limits.memory.
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
	// KernelArgs is the kernel command line; it needs a container.
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
	// ImagePullPolicy is when the node pulls the image. Defaults as for a
	// container: Always when the tag is latest or there is neither a tag
	// nor a digest, else IfNotPresent.
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
