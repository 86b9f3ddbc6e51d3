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

	// Features are hypervisor features exposed to the guest. Defaults to
	// acpi enabled, as in KubeVirt; ACPI is always on: a graceful shutdown
	// is an ACPI power button press.
	// +optional
	Features *Features `json:"features,omitempty"`

	// Clock is the guest's hardware clock: its offset from UTC and its
	// timers. Unset: libvirt's default, UTC.
	// +optional
	Clock *Clock `json:"clock,omitempty"`

	// Chassis is the SMBIOS chassis information (type 3) the guest sees.
	// +optional
	Chassis *Chassis `json:"chassis,omitempty"`

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
	// DedicatedCPUPlacement pins each vCPU to a host CPU of its own. The
	// launcher Pod then requests and limits whole CPUs (one per vCPU), so
	// that it is of Guaranteed QoS and a kubelet whose CPU manager policy
	// is static gives its container exclusive CPUs; the node agent pins the
	// vCPUs to those, and fails the VMI when the container has none (CPU
	// manager policy none). Needs resources.requests.cpu and limits.cpu,
	// if given, equal and whole, and at most 2 threads per core.
	// +optional
	DedicatedCPUPlacement bool `json:"dedicatedCpuPlacement,omitempty"`
	// IsolateEmulatorThread gives QEMU's emulator thread one more
	// dedicated host CPU (the launcher Pod asks for it). Only with
	// dedicatedCpuPlacement.
	// +optional
	IsolateEmulatorThread bool `json:"isolateEmulatorThread,omitempty"`
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
	// ACPI is always enabled (enabled defaults to true); setting
	// enabled: false is rejected.
	// +optional
	ACPI FeatureState `json:"acpi,omitempty"`
	// APIC exposes an APIC. Enabled when features is given and apic is not
	// disabled.
	// +optional
	APIC *FeatureAPIC `json:"apic,omitempty"`
	// SMM enables System Management Mode (needed by EFI Secure Boot).
	// +optional
	SMM *FeatureState `json:"smm,omitempty"`
	// Hyperv are Hyper-V enlightenments: paravirtual interfaces Windows
	// guests use when they run on Hyper-V. Each one given is enabled
	// unless it says enabled: false; those not given are left to the
	// machine type (off).
	// +optional
	Hyperv *FeatureHyperv `json:"hyperv,omitempty"`
}

// FeatureHyperv are the Hyper-V enlightenments. Dependencies are enabled
// for those that need them (synic and synictimer need vpindex,
// synictimer needs synic, tlbflush and ipi need vpindex, evmcs needs
// vapic) unless disabled, which is then refused.
type FeatureHyperv struct {
	// Relaxed disables the guest's watchdog timeouts (it may be
	// descheduled).
	// +optional
	Relaxed *FeatureState `json:"relaxed,omitempty"`
	// VAPIC is the paravirtual APIC: cheaper interrupt handling.
	// +optional
	VAPIC *FeatureState `json:"vapic,omitempty"`
	// Spinlocks tells the guest how often to retry a spinlock before it
	// notifies the hypervisor.
	// +optional
	Spinlocks *FeatureSpinlocks `json:"spinlocks,omitempty"`
	// VPIndex is the virtual processor index.
	// +optional
	VPIndex *FeatureState `json:"vpindex,omitempty"`
	// Runtime is the virtual processor run time, for the guest's
	// scheduling.
	// +optional
	Runtime *FeatureState `json:"runtime,omitempty"`
	// SyNIC is the synthetic interrupt controller. Needs vpindex.
	// +optional
	SyNIC *FeatureState `json:"synic,omitempty"`
	// SyNICTimer are the synthetic timers. Needs synic.
	// +optional
	SyNICTimer *SyNICTimer `json:"synictimer,omitempty"`
	// Reset lets the guest reset the machine through Hyper-V's interface.
	// +optional
	Reset *FeatureState `json:"reset,omitempty"`
	// VendorID is the hypervisor vendor id the guest sees.
	// +optional
	VendorID *FeatureVendorID `json:"vendorid,omitempty"`
	// Frequencies exposes the TSC and APIC frequencies.
	// +optional
	Frequencies *FeatureState `json:"frequencies,omitempty"`
	// Reenlightenment notifies the guest of TSC frequency changes.
	// +optional
	Reenlightenment *FeatureState `json:"reenlightenment,omitempty"`
	// TLBFlush is the paravirtual TLB flush. Needs vpindex.
	// +optional
	TLBFlush *TLBFlush `json:"tlbflush,omitempty"`
	// IPI is the paravirtual inter-processor interrupt. Needs vpindex.
	// +optional
	IPI *FeatureState `json:"ipi,omitempty"`
	// EVMCS is the enlightened VMCS, for guests that run their own
	// hypervisor. Needs vapic and a host CPU with VMX: the guest CPU then
	// requires vmx.
	// +optional
	EVMCS *FeatureState `json:"evmcs,omitempty"`
}

// FeatureSpinlocks is the spinlock enlightenment.
type FeatureSpinlocks struct {
	// Enabled switches the enlightenment. Defaults to true.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// Retries is how often the guest retries a spinlock before notifying
	// the hypervisor. At least 4095 (libvirt's minimum). Defaults to 4096
	// when enabled.
	// +kubebuilder:validation:Minimum=4095
	// +optional
	Retries *uint32 `json:"spinlocks,omitempty"`
}

// FeatureVendorID is the hypervisor vendor id enlightenment.
type FeatureVendorID struct {
	// Enabled switches the enlightenment. Defaults to true.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// VendorID is the vendor id, at most 12 characters.
	// +kubebuilder:validation:MaxLength=12
	// +optional
	VendorID string `json:"vendorid,omitempty"`
}

// SyNICTimer are the synthetic timers.
type SyNICTimer struct {
	// Enabled switches the timers. Defaults to true.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// Direct delivers timer expirations as interrupts, not messages.
	// +optional
	Direct *FeatureState `json:"direct,omitempty"`
}

// TLBFlush is the paravirtual TLB flush.
type TLBFlush struct {
	// Enabled switches the enlightenment. Defaults to true.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// Direct sends TLB flushes of a nested guest directly to the
	// hypervisor.
	// +optional
	Direct *FeatureState `json:"direct,omitempty"`
	// Extended allows partial (ranged) TLB flushes.
	// +optional
	Extended *FeatureState `json:"extended,omitempty"`
}

// Clock is the guest's hardware clock. At most one of utc and timezone.
type Clock struct {
	// UTC keeps the guest's clock in UTC, reset to the host's on each
	// boot unless offsetSeconds is given.
	// +optional
	UTC *ClockOffsetUTC `json:"utc,omitempty"`
	// Timezone keeps the guest's clock in this IANA time zone, for example
	// America/New_York (guests that expect local time, such as Windows).
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Timezone *string `json:"timezone,omitempty"`
	// Timer are the guest's timers and their tick policies.
	// +optional
	Timer *Timer `json:"timer,omitempty"`
}

// ClockOffsetUTC is a UTC guest clock.
type ClockOffsetUTC struct {
	// OffsetSeconds is the guest clock's offset from UTC, in seconds. When
	// given, the guest's own changes to its clock survive reboots.
	// +optional
	OffsetSeconds *int `json:"offsetSeconds,omitempty"`
}

// Timer are the guest's timers. A timer not given is left to the machine
// type.
type Timer struct {
	// HPET is the High Precision Event Timer.
	// +optional
	HPET *HPETTimer `json:"hpet,omitempty"`
	// KVM is the paravirtual KVM clock (Linux guests).
	// +optional
	KVM *KVMTimer `json:"kvm,omitempty"`
	// PIT is the Programmable Interval Timer.
	// +optional
	PIT *PITTimer `json:"pit,omitempty"`
	// RTC is the Real Time Clock.
	// +optional
	RTC *RTCTimer `json:"rtc,omitempty"`
	// Hyperv is the paravirtual Hyper-V reference clock (Windows guests).
	// +optional
	Hyperv *HypervTimer `json:"hyperv,omitempty"`
}

// HPETTimer is the High Precision Event Timer.
type HPETTimer struct {
	// TickPolicy is what happens when QEMU misses a tick: delay, catchup,
	// merge or discard.
	// +kubebuilder:validation:Enum=delay;catchup;merge;discard
	// +optional
	TickPolicy string `json:"tickPolicy,omitempty"`
	// Enabled (present) false removes the timer the machine type would
	// add. Defaults to true.
	// +optional
	Enabled *bool `json:"present,omitempty"`
}

// PITTimer is the Programmable Interval Timer.
type PITTimer struct {
	// TickPolicy is what happens when QEMU misses a tick: delay, catchup
	// or discard.
	// +kubebuilder:validation:Enum=delay;catchup;discard
	// +optional
	TickPolicy string `json:"tickPolicy,omitempty"`
	// Enabled (present) false removes the timer the machine type would
	// add. Defaults to true.
	// +optional
	Enabled *bool `json:"present,omitempty"`
}

// RTCTimer is the Real Time Clock.
type RTCTimer struct {
	// TickPolicy is what happens when QEMU misses a tick: delay or
	// catchup.
	// +kubebuilder:validation:Enum=delay;catchup
	// +optional
	TickPolicy string `json:"tickPolicy,omitempty"`
	// Enabled (present) false removes the timer the machine type would
	// add. Defaults to true.
	// +optional
	Enabled *bool `json:"present,omitempty"`
	// Track is the clock the RTC follows: guest or wall.
	// +kubebuilder:validation:Enum=guest;wall
	// +optional
	Track string `json:"track,omitempty"`
}

// KVMTimer is the KVM clock.
type KVMTimer struct {
	// Enabled (present) false removes the timer. Defaults to true.
	// +optional
	Enabled *bool `json:"present,omitempty"`
}

// HypervTimer is the Hyper-V reference clock.
type HypervTimer struct {
	// Enabled (present) false removes the timer. Defaults to true.
	// +optional
	Enabled *bool `json:"present,omitempty"`
}

// Chassis is the SMBIOS chassis information. Empty fields are left out.
type Chassis struct {
	// Manufacturer is the chassis manufacturer.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Manufacturer string `json:"manufacturer,omitempty"`
	// Version is the chassis version.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Version string `json:"version,omitempty"`
	// Serial is the chassis serial number.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Serial string `json:"serial,omitempty"`
	// Asset is the chassis asset tag.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Asset string `json:"asset,omitempty"`
	// Sku is the chassis SKU number.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Sku string `json:"sku,omitempty"`
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
