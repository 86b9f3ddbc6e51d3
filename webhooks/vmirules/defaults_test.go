package vmirules

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func TestDefault(t *testing.T) {
	vmi := &v1alpha1.VirtualMachineInstance{}
	vmi.Spec.Domain.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}
	vmi.Spec.Domain.Firmware = &v1alpha1.Firmware{KernelBoot: &v1alpha1.KernelBoot{Container: &v1alpha1.KernelBootContainer{Image: "x:1"}}}
	Default(vmi)
	d := vmi.Spec.Domain
	if d.Machine.Type != "q35" {
		t.Errorf("machine type %q", d.Machine.Type)
	}
	if d.CPU.Cores != 1 || d.CPU.Sockets != 1 || d.CPU.Threads != 1 {
		t.Errorf("cpu %+v", d.CPU)
	}
	if d.Memory.Guest.Cmp(resource.MustParse("256Mi")) != 0 {
		t.Errorf("guest memory %s, want it from requests.memory", d.Memory.Guest)
	}
	if *vmi.Spec.TerminationGracePeriodSeconds != 30 || !*d.Devices.AutoattachSerialConsole {
		t.Errorf("grace %d serial %v", *vmi.Spec.TerminationGracePeriodSeconds, *d.Devices.AutoattachSerialConsole)
	}
	if d.Firmware.KernelBoot.Container.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("pull policy %q", d.Firmware.KernelBoot.Container.ImagePullPolicy)
	}
}

func TestDefaultRequestsFromGuest(t *testing.T) {
	vmi := &v1alpha1.VirtualMachineInstance{}
	vmi.Spec.Domain.Memory = &v1alpha1.Memory{Guest: ptr.To(resource.MustParse("1Gi"))}
	Default(vmi)
	if got := vmi.Spec.Domain.Resources.Requests[corev1.ResourceMemory]; got.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("requests.memory %s, want 1Gi from memory.guest", got.String())
	}
}

func TestDefaultIsIdempotent(t *testing.T) {
	vmi := validVMI()
	once := vmi.DeepCopy()
	Default(vmi)
	if !equality.Semantic.DeepEqual(once, vmi) {
		t.Errorf("defaulting twice changed the VMI")
	}
}

func TestDefaultKeepsUserValues(t *testing.T) {
	vmi := validVMI()
	vmi.Spec.Domain.Machine.Type = "pc"
	vmi.Spec.Domain.CPU.Cores = 4
	vmi.Spec.TerminationGracePeriodSeconds = ptr.To(int64(0))
	vmi.Spec.Domain.Devices.AutoattachSerialConsole = ptr.To(false)
	Default(vmi)
	if vmi.Spec.Domain.Machine.Type != "pc" || vmi.Spec.Domain.CPU.Cores != 4 || *vmi.Spec.TerminationGracePeriodSeconds != 0 || *vmi.Spec.Domain.Devices.AutoattachSerialConsole {
		t.Errorf("defaulting overwrote user values: %+v", vmi.Spec)
	}
}
