package vmirules

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// Limits enforced on every VMI, whatever the cluster's policies say.
const (
	MaxVCPUs = 512
)

// MinGuestMemory is the least memory a guest can boot with.
var MinGuestMemory = resource.MustParse("1Mi")

// launcherPodPrefix is prepended to the VMI name to name its launcher Pod,
// so a VMI name may be at most this much shorter than a label.
const launcherPodPrefix = "virt-launcher-"

// The paths of the fixed parts of a VMI, under which errors are reported.
// Validate runs on every admission and nearly every VMI is valid, yet
// building each field's and list element's *field.Path up front (a heap
// allocation apiece) was half of its allocations: 28 of 56 for the
// realistic VMI in BenchmarkValidate. So these few are built once and
// shared (a field.Path is immutable: Child, Index and Key return new
// paths), and every path below them is built only in the branch that
// reports an error.
var (
	specPath       = field.NewPath("spec")
	domainPath     = specPath.Child("domain")
	firmwarePath   = domainPath.Child("firmware")
	disksPath      = domainPath.Child("devices", "disks")
	interfacesPath = domainPath.Child("devices", "interfaces")
	volumesPath    = specPath.Child("volumes")
	networksPath   = specPath.Child("networks")
)

// Validate checks a defaulted VMI and returns every problem at once, each
// with the path of the field it concerns.
func Validate(vmi *v1alpha1.VirtualMachineInstance) field.ErrorList {
	var errs field.ErrorList
	if max := validation.DNS1123LabelMaxLength - len(launcherPodPrefix); len(vmi.Name) > max {
		errs = append(errs, field.TooLong(field.NewPath("metadata", "name"), vmi.Name, max))
	}
	for _, msg := range validation.IsDNS1123Label(vmi.Name) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), vmi.Name, msg))
	}
	errs = append(errs, validateDomain(&vmi.Spec.Domain)...)
	errs = append(errs, validateVolumes(&vmi.Spec)...)
	errs = append(errs, validateNetworks(&vmi.Spec)...)
	if g := vmi.Spec.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		errs = append(errs, field.Invalid(specPath.Child("terminationGracePeriodSeconds"), *g, "must be >= 0"))
	}
	for _, f := range []struct{ name, value string }{{"hostname", vmi.Spec.Hostname}, {"subdomain", vmi.Spec.Subdomain}} {
		if f.value == "" {
			continue
		}
		for _, msg := range validation.IsDNS1123Label(f.value) {
			errs = append(errs, field.Invalid(specPath.Child(f.name), f.value, msg))
		}
	}
	if es := vmi.Spec.EvictionStrategy; es != nil && *es != v1alpha1.EvictionStrategyNone {
		errs = append(errs, field.Invalid(specPath.Child("evictionStrategy"), *es, "only None is supported: podvirt has no live migration yet, so the guest is shut down with its Pod"))
	}
	return errs
}

// ValidateUpdate checks an update: the spec is immutable once created.
func ValidateUpdate(newVMI, oldVMI *v1alpha1.VirtualMachineInstance) field.ErrorList {
	if !equality.Semantic.DeepEqual(newVMI.Spec, oldVMI.Spec) {
		return field.ErrorList{field.Forbidden(field.NewPath("spec"), "is immutable after creation; delete and recreate the VirtualMachineInstance to change it")}
	}
	return nil
}

func validateDomain(d *v1alpha1.DomainSpec) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateCPU(d)...)
	errs = append(errs, validateMemory(d)...)
	errs = append(errs, validateMachine(d.Machine)...)
	errs = append(errs, validateFirmware(d)...)
	errs = append(errs, validateFeatures(d.Features)...)
	errs = append(errs, validateHyperv(d.Features)...)
	errs = append(errs, validateClock(d.Clock)...)
	errs = append(errs, validateDedicatedCPUs(d)...)
	errs = append(errs, validateInputs(&d.Devices)...)
	errs = append(errs, validateTPM(d.Devices.TPM)...)
	errs = append(errs, validateMultiQueue(d)...)
	errs = append(errs, validateDisks(d.Devices.Disks)...)
	errs = append(errs, validateInterfaces(d.Devices.Interfaces)...)
	errs = append(errs, validateBootOrders(&d.Devices)...)
	return errs
}

func validateMemory(d *v1alpha1.DomainSpec) field.ErrorList {
	var errs field.ErrorList
	// KubeVirt refuses negative requests and limits
	// (validateCPURequestNotNegative and its siblings); Kubernetes would
	// refuse the launcher Pod later, with a message about a Pod.
	for _, q := range []struct {
		name string
		list corev1.ResourceList
	}{{"requests", d.Resources.Requests}, {"limits", d.Resources.Limits}} {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if v, ok := q.list[name]; ok && v.Sign() < 0 {
				errs = append(errs, field.Invalid(domainPath.Child("resources", q.name).Key(string(name)), v.String(), "must not be negative"))
			}
		}
	}
	if d.Memory == nil || d.Memory.Guest == nil {
		return append(errs, field.Required(domainPath.Child("memory", "guest"), "set memory.guest, resources.requests.memory or resources.limits.memory"))
	}
	guest := *d.Memory.Guest
	if guest.Cmp(MinGuestMemory) < 0 {
		errs = append(errs, field.Invalid(domainPath.Child("memory", "guest"), guest.String(), "must be at least "+MinGuestMemory.String()))
	}
	if limit, ok := d.Resources.Limits[corev1.ResourceMemory]; ok && guest.Cmp(limit) > 0 {
		errs = append(errs, field.Invalid(domainPath.Child("memory", "guest"), guest.String(), "must not exceed resources.limits.memory ("+limit.String()+")"))
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := d.Resources.Requests[name]
		limit, hasLimit := d.Resources.Limits[name]
		if hasReq && hasLimit && req.Cmp(limit) > 0 {
			errs = append(errs, field.Invalid(domainPath.Child("resources", "requests").Key(string(name)), req.String(), "must be less than or equal to the limit ("+limit.String()+")"))
		}
	}
	return errs
}
