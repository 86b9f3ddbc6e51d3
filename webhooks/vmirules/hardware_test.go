package vmirules

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// hwVMI is validVMI before defaulting, for tests of what defaulting does.
func hwVMI() *v1alpha1.VirtualMachineInstance {
	vmi := &v1alpha1.VirtualMachineInstance{}
	vmi.Name, vmi.Namespace = "hw", "default"
	vmi.Spec.Domain.Memory = &v1alpha1.Memory{Guest: ptr.To(resource.MustParse("128Mi"))}
	vmi.Spec.Domain.Firmware = &v1alpha1.Firmware{KernelBoot: &v1alpha1.KernelBoot{
		Container: &v1alpha1.KernelBootContainer{Image: "r.example/g:1", KernelPath: "/boot/vmlinuz"},
	}}
	return vmi
}

func on(b *bool) bool { return b != nil && *b }

func TestDefaultHypervEnablesGivenAndDependencies(t *testing.T) {
	vmi := hwVMI()
	vmi.Spec.Domain.Features = &v1alpha1.Features{Hyperv: &v1alpha1.FeatureHyperv{
		Relaxed:    &v1alpha1.FeatureState{},
		Spinlocks:  &v1alpha1.FeatureSpinlocks{},
		SyNICTimer: &v1alpha1.SyNICTimer{Direct: &v1alpha1.FeatureState{}},
		TLBFlush:   &v1alpha1.TLBFlush{},
		EVMCS:      &v1alpha1.FeatureState{},
		Reset:      &v1alpha1.FeatureState{Enabled: ptr.To(false)},
	}}
	Default(vmi)
	h := vmi.Spec.Domain.Features.Hyperv
	if !on(h.Relaxed.Enabled) || !on(h.Spinlocks.Enabled) || !on(h.SyNICTimer.Enabled) || !on(h.SyNICTimer.Direct.Enabled) || !on(h.TLBFlush.Enabled) {
		t.Errorf("given enlightenments not enabled: %+v", h)
	}
	if h.Spinlocks.Retries == nil || *h.Spinlocks.Retries != 4096 {
		t.Errorf("spinlocks retries %v, want 4096", h.Spinlocks.Retries)
	}
	// synictimer -> synic -> vpindex; tlbflush -> vpindex; evmcs -> vapic.
	if h.SyNIC == nil || !on(h.SyNIC.Enabled) || h.VPIndex == nil || !on(h.VPIndex.Enabled) || h.VAPIC == nil || !on(h.VAPIC.Enabled) {
		t.Errorf("dependencies not enabled: synic %+v vpindex %+v vapic %+v", h.SyNIC, h.VPIndex, h.VAPIC)
	}
	if on(h.Reset.Enabled) {
		t.Error("the user's reset: enabled: false was changed")
	}
	if h.IPI != nil || h.Runtime != nil {
		t.Errorf("enlightenments nobody asked for: ipi %+v runtime %+v", h.IPI, h.Runtime)
	}
	if errs := Validate(vmi); len(errs) != 0 {
		t.Errorf("defaulted VMI refused: %v", errs)
	}
	// Idempotent.
	before := vmi.DeepCopy()
	Default(vmi)
	if !equalSpec(before, vmi) {
		t.Error("defaulting twice changed the VMI")
	}
}

func equalSpec(a, b *v1alpha1.VirtualMachineInstance) bool {
	return mustJSONString(a.Spec) == mustJSONString(b.Spec)
}

func TestDefaultClockTimersPresentAndInputs(t *testing.T) {
	vmi := hwVMI()
	vmi.Spec.Domain.Clock = &v1alpha1.Clock{UTC: &v1alpha1.ClockOffsetUTC{}, Timer: &v1alpha1.Timer{
		HPET: &v1alpha1.HPETTimer{Enabled: ptr.To(false)}, PIT: &v1alpha1.PITTimer{TickPolicy: "delay"},
		RTC: &v1alpha1.RTCTimer{TickPolicy: "catchup"}, KVM: &v1alpha1.KVMTimer{}, Hyperv: &v1alpha1.HypervTimer{},
	}}
	vmi.Spec.Domain.Devices.Inputs = []v1alpha1.Input{{Name: "tablet1"}}
	Default(vmi)
	tm := vmi.Spec.Domain.Clock.Timer
	if on(tm.HPET.Enabled) || !on(tm.PIT.Enabled) || !on(tm.RTC.Enabled) || !on(tm.KVM.Enabled) || !on(tm.Hyperv.Enabled) {
		t.Errorf("timers %+v: want every given timer present but the disabled hpet", tm)
	}
	if in := vmi.Spec.Domain.Devices.Inputs[0]; in.Bus != "usb" || in.Type != "tablet" {
		t.Errorf("input %+v, want a usb tablet", in)
	}
	if errs := Validate(vmi); len(errs) != 0 {
		t.Errorf("refused: %v", errs)
	}
}

func TestDedicatedCPUsValidation(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*v1alpha1.VirtualMachineInstance)
		want   string // "" accepted
	}{
		{"cores only", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU = &v1alpha1.CPU{Cores: 2, DedicatedCPUPlacement: true, IsolateEmulatorThread: true}
		}, ""},
		{"limit only", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU = &v1alpha1.CPU{DedicatedCPUPlacement: true}
			v.Spec.Domain.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
		}, ""},
		{"isolate without dedicated", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU = &v1alpha1.CPU{IsolateEmulatorThread: true}
		}, "spec.domain.cpu.isolateEmulatorThread: Invalid value: true: only with dedicatedCpuPlacement: true"},
		{"fractional request", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU = &v1alpha1.CPU{DedicatedCPUPlacement: true}
			v.Spec.Domain.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}
		}, `spec.domain.resources.requests[cpu]: Invalid value: "1500m": must be a whole number of CPUs with dedicatedCpuPlacement`},
		{"request below limit", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU = &v1alpha1.CPU{DedicatedCPUPlacement: true}
			v.Spec.Domain.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
			v.Spec.Domain.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
		}, `spec.domain.resources.requests[cpu]: Invalid value: "1": must equal resources.limits.cpu (2) with dedicatedCpuPlacement`},
		{"cores and another cpu count", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU = &v1alpha1.CPU{Cores: 4, DedicatedCPUPlacement: true}
			v.Spec.Domain.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
		}, "spec.domain.cpu.dedicatedCpuPlacement: Invalid value: true: resources.requests.cpu or limits.cpu must equal the 4 vCPUs"},
		{"three threads", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU = &v1alpha1.CPU{Threads: 3, DedicatedCPUPlacement: true}
		}, "spec.domain.cpu.threads: Invalid value: 3: at most 2 threads per core with dedicatedCpuPlacement"},
		{"memory request below limit", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU = &v1alpha1.CPU{DedicatedCPUPlacement: true}
			v.Spec.Domain.Memory = nil
			v.Spec.Domain.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}
			v.Spec.Domain.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}
		}, `spec.domain.resources.requests[memory]: Invalid value: "128Mi": must equal resources.limits.memory (256Mi) with dedicatedCpuPlacement`},
	} {
		t.Run(c.name, func(t *testing.T) {
			vmi := hwVMI()
			c.mutate(vmi)
			Default(vmi)
			assertErrors(t, Validate(vmi).ToAggregate(), c.want)
		})
	}
}

func assertErrors(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("refused: %v", err)
	case want != "" && err == nil:
		t.Errorf("accepted, want %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("errors %v, want %q", err, want)
	}
}

func TestHardwareValidation(t *testing.T) {
	hv := func(h v1alpha1.FeatureHyperv) func(*v1alpha1.VirtualMachineInstance) {
		return func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Features = &v1alpha1.Features{Hyperv: &h} }
	}
	for _, c := range []struct {
		name   string
		mutate func(*v1alpha1.VirtualMachineInstance)
		want   string
	}{
		{"timezone", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Clock = &v1alpha1.Clock{Timezone: ptr.To("America/New_York")}
		}, ""},
		{"timezone with a space", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Clock = &v1alpha1.Clock{Timezone: ptr.To("America/New York")}
		}, `spec.domain.clock.timezone: Invalid value: "America/New York": must be an IANA time zone name such as America/New_York or Europe/Berlin (no spaces`},
		{"timezone unknown", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Clock = &v1alpha1.Clock{Timezone: ptr.To("Mars/Olympus")}
		}, "unknown time zone"},
		{"timezone a path", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Clock = &v1alpha1.Clock{Timezone: ptr.To(":/etc/shadow")}
		}, "not a path"},
		{"timezone climbing", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Clock = &v1alpha1.Clock{Timezone: ptr.To("../../../etc/passwd")}
		}, "not a path"},
		{"utc and timezone", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Clock = &v1alpha1.Clock{UTC: &v1alpha1.ClockOffsetUTC{}, Timezone: ptr.To("UTC")}
		}, "spec.domain.clock: Invalid value: \"utc and timezone\": set at most one of utc and timezone"},
		{"synic needs a disabled vpindex", hv(v1alpha1.FeatureHyperv{SyNIC: &v1alpha1.FeatureState{}, VPIndex: &v1alpha1.FeatureState{Enabled: ptr.To(false)}}),
			"spec.domain.features.hyperv.synic: Invalid value: \"enabled\": spec.domain.features.hyperv.synic requires spec.domain.features.hyperv.vpindex, which was disabled"},
		{"evmcs needs a disabled vapic", hv(v1alpha1.FeatureHyperv{EVMCS: &v1alpha1.FeatureState{}, VAPIC: &v1alpha1.FeatureState{Enabled: ptr.To(false)}}),
			"hyperv.evmcs requires spec.domain.features.hyperv.vapic"},
		{"spinlocks too few", hv(v1alpha1.FeatureHyperv{Spinlocks: &v1alpha1.FeatureSpinlocks{Retries: ptr.To(uint32(100))}}),
			"spec.domain.features.hyperv.spinlocks.spinlocks: Invalid value: 100: must be at least 4095"},
		{"vendor id too long", hv(v1alpha1.FeatureHyperv{VendorID: &v1alpha1.FeatureVendorID{VendorID: "0123456789abc"}}),
			"spec.domain.features.hyperv.vendorid.vendorid: Too long"},
		{"vendor id missing", hv(v1alpha1.FeatureHyperv{VendorID: &v1alpha1.FeatureVendorID{}}),
			"spec.domain.features.hyperv.vendorid.vendorid: Required value"},
		{"vendor id disabled and empty", hv(v1alpha1.FeatureHyperv{VendorID: &v1alpha1.FeatureVendorID{Enabled: ptr.To(false)}}), ""},
		{"input keyboard", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Inputs = []v1alpha1.Input{{Name: "kbd", Type: "keyboard"}}
		}, `spec.domain.devices.inputs[0].type: Unsupported value: "keyboard": supported values: "tablet"`},
		{"input on ps2", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Inputs = []v1alpha1.Input{{Name: "t", Bus: "ps2"}}
		}, `spec.domain.devices.inputs[0].bus: Unsupported value: "ps2"`},
		{"input named as a disk", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Disks = []v1alpha1.Disk{{Name: "root"}}
			v.Spec.Volumes = []v1alpha1.Volume{{Name: "root", EmptyDisk: &v1alpha1.EmptyDiskSource{Capacity: resource.MustParse("1Gi")}}}
			v.Spec.Domain.Devices.Inputs = []v1alpha1.Input{{Name: "root"}}
		}, "spec.domain.devices.inputs[0].name: Duplicate value: \"root (also a disk's name"},
		{"input without name", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.Inputs = []v1alpha1.Input{{}}
		}, "spec.domain.devices.inputs[0].name: Required value"},
		{"tpm", func(v *v1alpha1.VirtualMachineInstance) { v.Spec.Domain.Devices.TPM = &v1alpha1.TPMDevice{} }, ""},
		{"tpm persistent", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.TPM = &v1alpha1.TPMDevice{Persistent: ptr.To(true)}
		}, "spec.domain.devices.tpm.persistent: Invalid value: true: a persistent TPM is not supported"},
		{"tpm persistent but disabled", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.TPM = &v1alpha1.TPMDevice{Enabled: ptr.To(false), Persistent: ptr.To(true)}
		}, ""},
		{"net multiqueue, one vCPU", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Devices.NetworkInterfaceMultiQueue = ptr.To(true)
		}, ""},
		{"net multiqueue, two vCPUs", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU = &v1alpha1.CPU{Cores: 2}
			v.Spec.Domain.Devices.NetworkInterfaceMultiQueue = ptr.To(true)
		}, "spec.domain.devices.networkInterfaceMultiqueue: Invalid value: true: not supported with 2 vCPUs: the node agent connects a virtio interface through a single-queue tap"},
		{"net multiqueue, two vCPUs, e1000 only", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU = &v1alpha1.CPU{Cores: 2}
			v.Spec.Domain.Devices.NetworkInterfaceMultiQueue = ptr.To(true)
			v.Spec.Domain.Devices.Interfaces = []v1alpha1.Interface{{Name: "default", Model: "e1000", Masquerade: &v1alpha1.InterfaceMasquerade{}}}
			v.Spec.Networks = []v1alpha1.Network{{Name: "default", Pod: &v1alpha1.PodNetwork{}}}
		}, ""},
		{"block multiqueue", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.CPU = &v1alpha1.CPU{Cores: 4}
			v.Spec.Domain.Devices.BlockMultiQueue = ptr.To(true)
		}, ""},
		{"chassis", func(v *v1alpha1.VirtualMachineInstance) {
			v.Spec.Domain.Chassis = &v1alpha1.Chassis{Manufacturer: "Acme", Asset: "a-1"}
		}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			vmi := hwVMI()
			c.mutate(vmi)
			Default(vmi)
			assertErrors(t, Validate(vmi).ToAggregate(), c.want)
		})
	}
}

func mustJSONString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
