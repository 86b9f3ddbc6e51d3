package webhooks

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

	if d.CPU == nil {
		d.CPU = &v1alpha1.CPU{}
	}
	for _, v := range []*uint32{&d.CPU.Cores, &d.CPU.Sockets, &d.CPU.Threads} {
		if *v == 0 {
			*v = 1
		}
	}

	defaultMemory(d)

	if fw := d.Firmware; fw != nil && fw.KernelBoot != nil && fw.KernelBoot.Container != nil {
		if fw.KernelBoot.Container.ImagePullPolicy == "" {
			fw.KernelBoot.Container.ImagePullPolicy = corev1.PullIfNotPresent
		}
	}

	if d.Devices.AutoattachSerialConsole == nil {
		d.Devices.AutoattachSerialConsole = ptr.To(true)
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptr.To(DefaultTerminationGracePeriodSeconds)
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
