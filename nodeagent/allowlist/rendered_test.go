package allowlist

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/launcher/domain"
)

// fullVMI uses every device the launcher renders.
func fullVMI() *v1alpha1.VirtualMachineInstance {
	vmi := &v1alpha1.VirtualMachineInstance{}
	vmi.Name, vmi.Namespace, vmi.UID = "full", "default", "0b8c2b7e-4a55-4f3e-9d8e-2a1c3f4e5d6f"
	vmi.Spec.Domain = v1alpha1.DomainSpec{
		CPU:     &v1alpha1.CPU{Cores: 2, Sockets: 1, Threads: 1},
		Memory:  &v1alpha1.Memory{Guest: ptr.To(resource.MustParse("256Mi"))},
		Machine: &v1alpha1.Machine{Type: "q35"},
		Features: &v1alpha1.Features{
			APIC: &v1alpha1.FeatureAPIC{EndOfInterrupt: true},
			SMM:  &v1alpha1.FeatureState{},
			Hyperv: &v1alpha1.FeatureHyperv{
				Relaxed: &v1alpha1.FeatureState{}, VAPIC: &v1alpha1.FeatureState{}, VPIndex: &v1alpha1.FeatureState{},
				SyNIC: &v1alpha1.FeatureState{}, SyNICTimer: &v1alpha1.SyNICTimer{Direct: &v1alpha1.FeatureState{}},
				Spinlocks: &v1alpha1.FeatureSpinlocks{Retries: ptr.To(uint32(8191))},
				VendorID:  &v1alpha1.FeatureVendorID{VendorID: "KVMKVMKVM"},
				TLBFlush:  &v1alpha1.TLBFlush{}, IPI: &v1alpha1.FeatureState{}, EVMCS: &v1alpha1.FeatureState{},
			},
		},
		Clock: &v1alpha1.Clock{Timezone: ptr.To("Europe/Berlin"), Timer: &v1alpha1.Timer{
			HPET: &v1alpha1.HPETTimer{Enabled: ptr.To(false)}, PIT: &v1alpha1.PITTimer{TickPolicy: "delay"},
			RTC: &v1alpha1.RTCTimer{TickPolicy: "catchup"}, Hyperv: &v1alpha1.HypervTimer{},
		}},
		Chassis: &v1alpha1.Chassis{Manufacturer: "Acme", Asset: "A-1"},
		Firmware: &v1alpha1.Firmware{
			Serial:     "full-0001",
			Bootloader: &v1alpha1.Bootloader{EFI: &v1alpha1.EFI{SecureBoot: ptr.To(true)}},
		},
		Devices: v1alpha1.Devices{
			AutoattachSerialConsole:  ptr.To(true),
			AutoattachGraphicsDevice: ptr.To(true),
			Rng:                      &v1alpha1.Rng{},
			TPM:                      &v1alpha1.TPMDevice{},
			BlockMultiQueue:          ptr.To(true),
			Inputs:                   []v1alpha1.Input{{Name: "tablet1", Type: "tablet", Bus: "virtio"}, {Name: "tablet2", Type: "tablet", Bus: "usb"}},
			Disks: []v1alpha1.Disk{
				{Name: "root", BootOrder: ptr.To(uint(1)), Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusVirtio}},
				{Name: "data", Serial: "d1", Disk: &v1alpha1.DiskTarget{Bus: v1alpha1.DiskBusSCSI, ReadOnly: true}},
				{Name: "install", CDRom: &v1alpha1.CDRomTarget{Bus: v1alpha1.DiskBusSATA}},
			},
			Interfaces: []v1alpha1.Interface{{
				Name: "default", Model: "e1000", MacAddress: "02:00:00:aa:bb:01",
				Masquerade: &v1alpha1.InterfaceMasquerade{}, BootOrder: ptr.To(uint(2)),
			}},
		},
	}
	return vmi
}

// renderLocalized renders vmi as the controller does and localizes it as
// the node agent does.
func renderLocalized(t *testing.T, vmi *v1alpha1.VirtualMachineInstance) string {
	t.Helper()
	x, err := domain.RenderXML(vmi, domain.Options{Type: "kvm"})
	if err != nil {
		t.Fatal(err)
	}
	dom, err := domainspec.Parse(x)
	if err != nil {
		t.Fatal(err)
	}
	if err := domainspec.Localize(dom, domainspec.NodeFacts{ImageRoot: imageRoot, VMIDir: vmiDir}); err != nil {
		t.Fatal(err)
	}
	out, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Everything the launcher renders today passes, but for LUNs: libvirt
// only runs those on block devices, which are host devices.
func TestRenderedVMIAccepted(t *testing.T) {
	x := renderLocalized(t, fullVMI())
	for _, want := range []string{`type="ethernet"`, `<graphics type="vnc"`, `<rng model="virtio"`, `<disk type="file" device="cdrom"`, `firmware="efi"`,
		`<tpm model="tpm-tis">`, `<hyperv>`, `<timer name="hypervclock"`, `timezone="Europe/Berlin"`, `<chassis>`, `<input type="tablet" bus="virtio"`, `queues="2"`} {
		if !strings.Contains(x, want) {
			t.Fatalf("the rendered domain has no %s; the test no longer covers it:\n%s", want, x)
		}
	}
	if errs := Check(parse(t, x), testOptions()); len(errs) != 0 {
		t.Fatalf("refused:\n%s\n%s", dump(errs), x)
	}

	vmi := fullVMI()
	vmi.Spec.Domain.Devices.Disks = append(vmi.Spec.Domain.Devices.Disks, v1alpha1.Disk{Name: "shared", LUN: &v1alpha1.LunTarget{}})
	errs := Check(parse(t, renderLocalized(t, vmi)), testOptions())
	if !hasError(errs, "devices.disk[3].device", "lun") {
		t.Fatalf("a rendered LUN:\n%s", dump(errs))
	}
}

func TestTargetDevPrefix(t *testing.T) {
	opts := testOptions()
	opts.TargetDevPrefix = "pv"
	for dev, ok := range map[string]bool{"pv0f3a": true, "pv": false, "eth0": false, "vnet0": false} {
		xml := withDevices(t, `<interface type="ethernet"><target dev="`+dev+`"/></interface>`)
		errs := Check(parse(t, xml), opts)
		if (len(errs) == 0) != ok {
			t.Errorf("target dev %q: %s", dev, dump(errs))
		}
	}
}

// The node agent's own tap, unmanaged, is accepted on an ethernet
// interface; any other existing device, or its tap on another interface
// type, is refused.
func TestOwnTapOnly(t *testing.T) {
	opts := testOptions()
	opts.TargetDevPrefix, opts.OwnTaps = "pvt", []string{"pvt0123456789"}
	for _, c := range []struct {
		iface string
		ok    bool
	}{
		{`<interface type="ethernet"><target dev="pvt0123456789" managed="no"/></interface>`, true},
		{`<interface type="ethernet"><target dev="pvt9999999999" managed="no"/></interface>`, false},
		{`<interface type="ethernet"><target dev="eth0" managed="no"/></interface>`, false},
		{`<interface type="bridge"><source bridge="br-pods"/><target dev="pvt0123456789" managed="no"/></interface>`, false},
	} {
		errs := Check(parse(t, withDevices(t, c.iface)), opts)
		if (len(errs) == 0) != c.ok {
			t.Errorf("%s: accepted %v, want %v: %s", c.iface, len(errs) == 0, c.ok, dump(errs))
		}
		if !c.ok && !hasError(errs, "devices.interface[0].target.managed", "own tap") {
			t.Errorf("%s: refused for the wrong reason: %s", c.iface, dump(errs))
		}
	}
}

// A VMI with no boot order anywhere renders <os><boot dev="hd"/> (KubeVirt's
// domain with libvirt's default written down); the node accepts it.
func TestRenderedDefaultBootAccepted(t *testing.T) {
	vmi := fullVMI()
	vmi.Spec.Domain.Devices.Disks[0].BootOrder = nil
	vmi.Spec.Domain.Devices.Interfaces[0].BootOrder = nil
	x := renderLocalized(t, vmi)
	if !strings.Contains(x, `<boot dev="hd">`) {
		t.Fatalf("no <boot dev=\"hd\"> in the rendered domain:\n%s", x)
	}
	if errs := Check(parse(t, x), testOptions()); len(errs) != 0 {
		t.Fatalf("refused:\n%s\n%s", dump(errs), x)
	}
}

// Dedicated CPUs: the node agent pins them (Localize) to the CPUs the
// launcher container was given; the allowlist accepts pins to those and
// no others.
func TestRenderedDedicatedCPUsPinnedAccepted(t *testing.T) {
	vmi := fullVMI()
	vmi.Spec.Domain.CPU.DedicatedCPUPlacement = true
	vmi.Spec.Domain.CPU.IsolateEmulatorThread = true
	x, err := domain.RenderXML(vmi, domain.Options{Type: "kvm"})
	if err != nil {
		t.Fatal(err)
	}
	dom, err := domainspec.Parse(x)
	if err != nil {
		t.Fatal(err)
	}
	if err := domainspec.Localize(dom, domainspec.NodeFacts{ImageRoot: imageRoot, VMIDir: vmiDir,
		CPUPins: &domainspec.CPUPins{VCPUs: []int{2, 3}, Emulator: []int{5}}}); err != nil {
		t.Fatal(err)
	}
	opts := testOptions()
	opts.PinnableCPUs = []int{2, 3, 5}
	if errs := Check(dom, opts); len(errs) != 0 {
		t.Fatalf("refused:\n%s", dump(errs))
	}
	opts.PinnableCPUs = []int{2, 3}
	if errs := Check(dom, opts); !hasError(errs, "cputune.emulatorpin.cpuset", "given exclusively") {
		t.Fatalf("the emulator pinned off the container's CPUs: %s", dump(errs))
	}
}
