package vmirules

import (
	"fmt"
	"strings"
	"time"
	// The time zones clock.timezone is checked against, whatever the
	// webhook's image ships.
	_ "time/tzdata"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// MaxVendorIDLength is the longest Hyper-V vendor id libvirt takes.
const MaxVendorIDLength = 12

// MinSpinlockRetries is the least spinlock retry count libvirt takes.
const MinSpinlockRetries = 4095

// validateClock: at most one offset, and a time zone the guest's QEMU can
// find. KubeVirt checks neither (the converter takes utc first, and
// QEMU's TZ falls back to UTC for a zone it does not know); podvirt says so
// at admission.
func validateClock(c *v1alpha1.Clock) field.ErrorList {
	if c == nil {
		return nil
	}
	p := domainPath.Child("clock")
	var errs field.ErrorList
	if c.UTC != nil && c.Timezone != nil {
		errs = append(errs, field.Invalid(p, "utc and timezone", "set at most one of utc and timezone"))
	}
	if tz := c.Timezone; tz != nil {
		if msg := timezoneProblem(*tz); msg != "" {
			errs = append(errs, field.Invalid(p.Child("timezone"), *tz, msg))
		}
	}
	return errs
}

// timezoneProblem says why tz is not an IANA time zone name, or "".
func timezoneProblem(tz string) string {
	const hint = "must be an IANA time zone name such as America/New_York or Europe/Berlin"
	switch {
	case tz == "" || tz == "Local":
		return hint
	case strings.ContainsFunc(tz, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return hint + " (no spaces: America/New_York, not America/New York)"
	case strings.HasPrefix(tz, ":") || strings.HasPrefix(tz, "/") || strings.Contains(tz, ".."):
		return hint + ", not a path"
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return hint + ": unknown time zone"
	}
	return ""
}

// validateHyperv: dependencies KubeVirt checks (pkg/virt-api/webhooks/hyperv.go
// ValidateVirtualMachineInstanceHypervFeatureDependencies), and the bounds
// libvirt would refuse the domain for.
func validateHyperv(f *v1alpha1.Features) field.ErrorList {
	if f == nil || f.Hyperv == nil {
		return nil
	}
	h := f.Hyperv
	p := domainPath.Child("features", "hyperv")
	var errs field.ErrorList
	for _, dep := range hypervDependencies(h) {
		if dep.on() && !dep.needs.enabled() {
			errs = append(errs, field.Invalid(p.Child(dep.name), "enabled",
				fmt.Sprintf("%s requires %s, which was disabled", p.Child(dep.name), p.Child(dep.needs.name))))
		}
	}
	if s := h.Spinlocks; s != nil && enabledPtr(s.Enabled) && s.Retries != nil && *s.Retries < MinSpinlockRetries {
		errs = append(errs, field.Invalid(p.Child("spinlocks", "spinlocks"), *s.Retries, fmt.Sprintf("must be at least %d", MinSpinlockRetries)))
	}
	if v := h.VendorID; v != nil && enabledPtr(v.Enabled) {
		switch {
		case v.VendorID == "":
			errs = append(errs, field.Required(p.Child("vendorid", "vendorid"), "an enabled vendorid needs the vendor id, at most 12 characters"))
		case len(v.VendorID) > MaxVendorIDLength:
			errs = append(errs, field.TooLong(p.Child("vendorid", "vendorid"), v.VendorID, MaxVendorIDLength))
		case strings.ContainsFunc(v.VendorID, func(r rune) bool { return r < 0x20 || r > 0x7e }):
			errs = append(errs, field.Invalid(p.Child("vendorid", "vendorid"), v.VendorID, "must be printable ASCII"))
		}
	}
	return errs
}

// validateInputs: KubeVirt's validateInputDevices (tablet on usb or
// virtio), and names that make distinct device aliases.
func validateInputs(devs *v1alpha1.Devices) field.ErrorList {
	var errs field.ErrorList
	p := domainPath.Child("devices", "inputs")
	taken := map[string]string{}
	for _, d := range devs.Disks {
		taken[d.Name] = "disk"
	}
	for _, n := range devs.Interfaces {
		taken[n.Name] = "interface"
	}
	for i, in := range devs.Inputs {
		errs = append(errs, validateName(in.Name, p, i)...)
		if what, dup := taken[in.Name]; dup && in.Name != "" {
			errs = append(errs, field.Duplicate(p.Index(i).Child("name"), fmt.Sprintf("%s (also a %s's name: device names are shared)", in.Name, what)))
		}
		taken[in.Name] = "input"
		if in.Bus != "usb" && in.Bus != "virtio" {
			errs = append(errs, field.NotSupported(p.Index(i).Child("bus"), in.Bus, []string{"usb", "virtio"}))
		}
		if in.Type != "tablet" {
			errs = append(errs, field.NotSupported(p.Index(i).Child("type"), in.Type, []string{"tablet"}))
		}
	}
	return errs
}

// validateTPM refuses a persistent TPM: KubeVirt keeps its state on a PVC
// of the VM (backend storage); podvirt keeps nothing of a VMI beyond it.
func validateTPM(t *v1alpha1.TPMDevice) field.ErrorList {
	if t == nil || (t.Enabled != nil && !*t.Enabled) || t.Persistent == nil || !*t.Persistent {
		return nil
	}
	return field.ErrorList{field.Invalid(domainPath.Child("devices", "tpm", "persistent"), true,
		"a persistent TPM is not supported: podvirt keeps no state of a VMI after it ends (KubeVirt keeps it on a backend-storage PVC); use persistent: false, whose state lasts as long as the VMI")}
}

// validateDedicatedCPUs: KubeVirt's validateCpuPinning and
// validateCPUIsolatorThread. The launcher Pod asks for whole CPUs, as many
// as there are vCPUs (and one for the emulator thread), request = limit,
// so that the kubelet's static CPU manager gives it exclusive CPUs.
func validateDedicatedCPUs(d *v1alpha1.DomainSpec) field.ErrorList {
	c := d.CPU
	if c == nil {
		return nil
	}
	cpuPath := domainPath.Child("cpu")
	var errs field.ErrorList
	if c.IsolateEmulatorThread && !c.DedicatedCPUPlacement {
		errs = append(errs, field.Invalid(cpuPath.Child("isolateEmulatorThread"), true, "only with dedicatedCpuPlacement: true"))
	}
	if !c.DedicatedCPUPlacement {
		return errs
	}
	req, hasReq := d.Resources.Requests[corev1.ResourceCPU]
	limit, hasLimit := d.Resources.Limits[corev1.ResourceCPU]
	if hasReq && req.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(domainPath.Child("resources", "requests").Key("cpu"), req.String(), "must be a whole number of CPUs with dedicatedCpuPlacement"))
	}
	if hasLimit && limit.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(domainPath.Child("resources", "limits").Key("cpu"), limit.String(), "must be a whole number of CPUs with dedicatedCpuPlacement"))
	}
	if hasReq && hasLimit && req.Cmp(limit) != 0 {
		errs = append(errs, field.Invalid(domainPath.Child("resources", "requests").Key("cpu"), req.String(), "must equal resources.limits.cpu ("+limit.String()+") with dedicatedCpuPlacement"))
	}
	vcpus := vcpuCount(d)
	if (hasReq || hasLimit) && !(hasReq && req.MilliValue() == vcpus*1000) && !(hasLimit && limit.MilliValue() == vcpus*1000) {
		errs = append(errs, field.Invalid(cpuPath.Child("dedicatedCpuPlacement"), true,
			fmt.Sprintf("resources.requests.cpu or limits.cpu must equal the %d vCPUs of cores*sockets*threads, or be left out", vcpus)))
	}
	reqMem, hasReqMem := d.Resources.Requests[corev1.ResourceMemory]
	limMem, hasLimMem := d.Resources.Limits[corev1.ResourceMemory]
	if hasReqMem && hasLimMem && reqMem.Cmp(limMem) != 0 {
		errs = append(errs, field.Invalid(domainPath.Child("resources", "requests").Key("memory"), reqMem.String(), "must equal resources.limits.memory ("+limMem.String()+") with dedicatedCpuPlacement"))
	}
	if c.Threads > 2 {
		errs = append(errs, field.Invalid(cpuPath.Child("threads"), c.Threads, "at most 2 threads per core with dedicatedCpuPlacement"))
	}
	return errs
}

// validateMultiQueue refuses networkInterfaceMultiqueue where it would
// give a virtio interface more than one queue: the node agent connects
// the guest through a single-queue tap it makes itself, which libvirt
// cannot open as several queues.
func validateMultiQueue(d *v1alpha1.DomainSpec) field.ErrorList {
	mq := d.Devices.NetworkInterfaceMultiQueue
	if mq == nil || !*mq || vcpuCount(d) <= 1 {
		return nil
	}
	for _, iface := range d.Devices.Interfaces {
		if iface.Model == "" || iface.Model == "virtio" {
			return field.ErrorList{field.Invalid(domainPath.Child("devices", "networkInterfaceMultiqueue"), true,
				fmt.Sprintf("not supported with %d vCPUs: the node agent connects a virtio interface through a single-queue tap, and multiqueue would give it %d queues; leave it out or false", vcpuCount(d), vcpuCount(d)))}
		}
	}
	return nil
}

func vcpuCount(d *v1alpha1.DomainSpec) int64 {
	c := d.CPU
	if c == nil {
		return 1
	}
	return int64(max(c.Cores, 1)) * int64(max(c.Sockets, 1)) * int64(max(c.Threads, 1))
}
