package vmirules

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func validVMI() *v1alpha1.VirtualMachineInstance {
	vmi := &v1alpha1.VirtualMachineInstance{}
	vmi.Name, vmi.Namespace = "tiny", "default"
	vmi.Spec.Domain.Memory = &v1alpha1.Memory{Guest: ptr.To(resource.MustParse("128Mi"))}
	vmi.Spec.Domain.Firmware = &v1alpha1.Firmware{KernelBoot: &v1alpha1.KernelBoot{
		Container: &v1alpha1.KernelBootContainer{Image: "r.example/g:1", KernelPath: "/boot/vmlinuz", InitrdPath: "/boot/initrd.img"},
	}}
	Default(vmi)
	return vmi
}

func TestValidateAcceptsValid(t *testing.T) {
	if errs := Validate(validVMI()); len(errs) != 0 {
		t.Fatalf("valid VMI rejected: %v", errs)
	}
}

func TestValidateReportsEveryFieldPath(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*v1alpha1.VirtualMachineInstance)
		want   []string // exact "path: message" strings of field.Error.Error()
	}{
		{"no memory", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Memory = nil
			delete(v.Spec.Domain.Resources.Requests, corev1.ResourceMemory)
		}, []string{"spec.domain.memory.guest: Required value: set memory.guest, resources.requests.memory or resources.limits.memory"}},
		{"guest above limit", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
			delete(v.Spec.Domain.Resources.Requests, corev1.ResourceMemory)
		}, []string{`spec.domain.memory.guest: Invalid value: "128Mi": must not exceed resources.limits.memory (64Mi)`}},
		{"cpu request above limit", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2")
			v.Spec.Domain.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
		}, []string{`spec.domain.resources.requests[cpu]: Invalid value: "2": must be less than or equal to the limit (1)`}},
		{"tiny guest memory", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Memory.Guest = ptr.To(resource.MustParse("1Ki"))
		}, []string{`spec.domain.memory.guest: Invalid value: "1Ki": must be at least 1Mi`}},
		{"no firmware", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Firmware = nil },
			[]string{"spec.domain.devices.disks: Required value: nothing to boot from: add a disk (with no bootOrder anywhere the first disk boots), give an interface a bootOrder, or set firmware.kernelBoot.container"}},
		// An empty kernelBoot is no kernel boot, as in KubeVirt: nothing
		// is left to boot from.
		{"no container", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Firmware.KernelBoot.Container = nil },
			[]string{"spec.domain.devices.disks: Required value: nothing to boot from: add a disk (with no bootOrder anywhere the first disk boots), give an interface a bootOrder, or set firmware.kernelBoot.container"}},
		{"kernel args without container", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Firmware.KernelBoot.Container = nil
			v.Spec.Domain.Firmware.KernelBoot.KernelArgs = "console=ttyS0"
		}, []string{
			"spec.domain.devices.disks: Required value: nothing to boot from: add a disk (with no bootOrder anywhere the first disk boots), give an interface a bootOrder, or set firmware.kernelBoot.container",
			"spec.domain.firmware.kernelBoot.container: Required value: kernelArgs need the image holding the kernel",
		}},
		{"several at once", func(v *v1alpha1.VirtualMachineInstance) {
			c := v.Spec.Domain.Firmware.KernelBoot.Container
			c.Image, c.KernelPath, c.InitrdPath = "", "", "/boot/../etc/shadow"
		}, []string{
			"spec.domain.firmware.kernelBoot.container.image: Required value",
			"spec.domain.firmware.kernelBoot.container.kernelPath: Required value: the kernel's absolute path inside the image",
			`spec.domain.firmware.kernelBoot.container.initrdPath: Invalid value: "/boot/../etc/shadow": must be an absolute, clean path (no '..', no trailing '/')`,
		}},
		{"too many vCPUs", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.CPU.Cores, v.Spec.Domain.CPU.Sockets = 64, 16 },
			[]string{"spec.domain.cpu: Invalid value: 1024: cores*sockets*threads must be at most 512"}},
		{"name not a label", func(v *v1alpha1.VirtualMachineInstance) { v.Name = "Tiny.VM" },
			[]string{`metadata.name: Invalid value: "Tiny.VM": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`}},
		{"name too long for the Pod name", func(v *v1alpha1.VirtualMachineInstance) { v.Name = strings.Repeat("a", 50) },
			[]string{"metadata.name: Too long: may not be more than 49 bytes"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vmi := validVMI()
			tc.mutate(vmi)
			errs := Validate(vmi)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestValidateUpdateSpecImmutable(t *testing.T) {
	old, upd := validVMI(), validVMI()
	upd.Labels = map[string]string{"a": "b"}
	if errs := ValidateUpdate(upd, old); len(errs) != 0 {
		t.Fatalf("metadata change rejected: %v", errs)
	}
	upd.Spec.Domain.CPU.Cores = 2
	errs := ValidateUpdate(upd, old)
	if len(errs) != 1 || errs[0].Field != "spec" {
		t.Fatalf("spec change: %v, want one error on spec", errs)
	}
}
