package libvmi

import v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"

// The tiny guest of the local environment (test/local/build-guest.sh): a
// kernel and a busybox initramfs in an image on the loopback registry. It
// prints PODVIRT-GUEST-READY on its serial console once it is up.
const (
	TinyImage = "127.0.0.1:15000/podvirt/tiny-guest:latest"
	// TinyKernel is the kernel for BIOS (direct kernel boot).
	TinyKernel = "/boot/vmlinux"
	// TinyKernelEFI is the same kernel with an EFI stub, for OVMF.
	TinyKernelEFI = "/boot/vmlinuz"
	TinyInitrd    = "/boot/initrd.img"
	// TinyKernelArgs is its kernel command line; the guest reads
	// podvirt.* arguments appended to it (podvirt.fetch=HOST:PORT).
	TinyKernelArgs = "console=ttyS0 panic=-1 quiet"
	TinyMemory     = "128Mi"
	// TinyGracePeriod is the tiny guest's terminationGracePeriodSeconds.
	TinyGracePeriod = 20
	// TinyName is the name NewTiny gives.
	TinyName = "tiny"
)

// NewTiny returns the tiny guest named "tiny": 128Mi, booted from its
// kernel and initrd, a 20 s grace period, and no network card (it boots
// faster without one); then applies opts.
func NewTiny(opts ...Option) *v1alpha1.VirtualMachineInstance {
	return New(append([]Option{
		WithName(TinyName),
		WithTerminationGracePeriod(TinyGracePeriod),
		WithMemory(TinyMemory),
		WithAutoattachPodInterface(false),
		WithKernelBoot(TinyImage, TinyKernel, TinyInitrd),
		WithKernelArgs(TinyKernelArgs),
	}, opts...)...)
}

// WithTinyEFI boots the tiny guest's EFI-stub kernel through OVMF with
// Secure Boot (the default for EFI). OVMF wants more than TinyMemory:
// add WithMemory("256Mi").
func WithTinyEFI() Option {
	return Options(
		WithFirmwareEFI(),
		WithKernelBoot(TinyImage, TinyKernelEFI, TinyInitrd),
	)
}
