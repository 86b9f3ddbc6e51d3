package vmirules

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

var (
	// machineTypeRE accepts the x86 machine types QEMU offers.
	machineTypeRE = regexp.MustCompile(`^(q35|pc|pc-q35-[0-9.]+|pc-i440fx-[0-9.]+)$`)
	// cpuModelRE accepts host-passthrough, host-model and libvirt model names.
	cpuModelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	uuidRE     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

func validateCPU(d *v1alpha1.DomainSpec) field.ErrorList {
	var errs field.ErrorList
	c := d.CPU
	if c == nil {
		return nil
	}
	if n := uint64(c.Cores) * uint64(c.Sockets) * uint64(c.Threads); n > MaxVCPUs {
		errs = append(errs, field.Invalid(domainPath.Child("cpu"), n, fmt.Sprintf("cores*sockets*threads must be at most %d", MaxVCPUs)))
	}
	if c.Model != "" && !cpuModelRE.MatchString(c.Model) {
		errs = append(errs, field.Invalid(domainPath.Child("cpu", "model"), c.Model, "must be host-passthrough, host-model or a libvirt CPU model name"))
	}
	return errs
}

func validateMachine(m *v1alpha1.Machine) field.ErrorList {
	if m == nil || m.Type == "" || machineTypeRE.MatchString(m.Type) {
		return nil
	}
	return field.ErrorList{field.Invalid(domainPath.Child("machine", "type"), m.Type, "must be q35, pc, pc-q35-<version> or pc-i440fx-<version>")}
}

func validateFirmware(d *v1alpha1.DomainSpec) field.ErrorList {
	var errs field.ErrorList
	fw := d.Firmware
	// With no bootOrder anywhere the first disk boots (libvirt's default,
	// which KubeVirt relies on), so any disk, a bootable interface or a
	// kernel will do. KubeVirt also admits a VMI with none of them, whose
	// guest then finds nothing to boot; podvirt says so at admission.
	if !hasKernelBootContainer(fw) && len(d.Devices.Disks) == 0 && !hasBootInterface(d.Devices.Interfaces) {
		errs = append(errs, field.Required(disksPath, "nothing to boot from: add a disk (with no bootOrder anywhere the first disk boots), give an interface a bootOrder, or set firmware.kernelBoot.container"))
	}
	if fw == nil {
		return errs
	}
	if fw.UUID != "" && !uuidRE.MatchString(string(fw.UUID)) {
		errs = append(errs, field.Invalid(firmwarePath.Child("uuid"), fw.UUID, "must be a UUID such as 5d307ca9-b3ef-428c-8861-06e72d69f223"))
	}
	if bl := fw.Bootloader; bl != nil {
		if bl.BIOS != nil && bl.EFI != nil {
			errs = append(errs, field.Invalid(firmwarePath.Child("bootloader"), "bios and efi", "set one of bios and efi, not both"))
		}
		if bl.EFI != nil && bl.EFI.SecureBoot != nil && *bl.EFI.SecureBoot && !featureOn(d.Features, func(f *v1alpha1.Features) *v1alpha1.FeatureState { return f.SMM }) {
			errs = append(errs, field.Invalid(firmwarePath.Child("bootloader", "efi", "secureBoot"), true, "Secure Boot needs features.smm enabled"))
		}
	}
	if fw.KernelBoot != nil {
		errs = append(errs, validateKernelBoot(fw.KernelBoot)...)
	}
	return errs
}

func validateKernelBoot(kb *v1alpha1.KernelBoot) field.ErrorList {
	var errs field.ErrorList
	if strings.ContainsFunc(kb.KernelArgs, unicode.IsControl) {
		errs = append(errs, field.Invalid(firmwarePath.Child("kernelBoot", "kernelArgs"), kb.KernelArgs, "must not contain control characters"))
	}
	c := kb.Container
	if c == nil {
		// As in KubeVirt's validateKernelBoot: arguments need the kernel
		// they are for; an empty kernelBoot is no kernel boot at all.
		if kb.KernelArgs != "" {
			errs = append(errs, field.Required(firmwarePath.Child("kernelBoot", "container"), "kernelArgs need the image holding the kernel"))
		}
		return errs
	}
	errs = append(errs, validateImage(c.Image, func() *field.Path { return firmwarePath.Child("kernelBoot", "container", "image") })...)
	if c.KernelPath == "" {
		errs = append(errs, field.Required(firmwarePath.Child("kernelBoot", "container", "kernelPath"), "the kernel's absolute path inside the image"))
	}
	for _, f := range []struct {
		name, value string
	}{{"kernelPath", c.KernelPath}, {"initrdPath", c.InitrdPath}} {
		if f.value != "" && !isCleanAbs(f.value) {
			errs = append(errs, field.Invalid(firmwarePath.Child("kernelBoot", "container", f.name), f.value, "must be an absolute, clean path (no '..', no trailing '/')"))
		}
	}
	return errs
}

func isCleanAbs(p string) bool { return path.IsAbs(p) && path.Clean(p) == p }

func validateFeatures(f *v1alpha1.Features) field.ErrorList {
	if f == nil {
		return nil
	}
	if f.ACPI.Enabled != nil && !*f.ACPI.Enabled {
		return field.ErrorList{field.Invalid(domainPath.Child("features", "acpi", "enabled"), false, "ACPI cannot be disabled: podvirt shuts guests down with the ACPI power button")}
	}
	return nil
}

func featureOn(f *v1alpha1.Features, get func(*v1alpha1.Features) *v1alpha1.FeatureState) bool {
	if f == nil {
		return false
	}
	s := get(f)
	return s != nil && (s.Enabled == nil || *s.Enabled)
}

func hasKernelBootContainer(fw *v1alpha1.Firmware) bool {
	return fw != nil && fw.KernelBoot != nil && fw.KernelBoot.Container != nil
}

func hasBootInterface(ifaces []v1alpha1.Interface) bool {
	for i := range ifaces {
		if ifaces[i].BootOrder != nil {
			return true
		}
	}
	return false
}

// validateImage checks an image reference the way a node will parse it.
// path is called only to report an error.
func validateImage(image string, path func() *field.Path) field.ErrorList {
	if image == "" {
		return field.ErrorList{field.Required(path(), "")}
	}
	if isCommonImageReference(image) {
		return nil
	}
	if _, err := name.ParseReference(image); err != nil {
		return field.ErrorList{field.Invalid(path(), image, "is not an image reference: "+err.Error())}
	}
	return nil
}
