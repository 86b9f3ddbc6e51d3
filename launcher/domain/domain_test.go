package domain

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

var update = flag.Bool("update", false, "rewrite golden files")

func tinyVMI() *v1alpha1.VirtualMachineInstance {
	vmi := &v1alpha1.VirtualMachineInstance{}
	vmi.Name, vmi.Namespace, vmi.UID = "tiny", "default", "6f1d2c1e-7b1a-4d8e-9a55-0c3f3b0a9e11"
	vmi.Spec.TerminationGracePeriodSeconds = ptr.To(int64(10))
	vmi.Spec.Domain = v1alpha1.DomainSpec{
		CPU:     &v1alpha1.CPU{Cores: 2, Sockets: 1, Threads: 1},
		Memory:  &v1alpha1.Memory{Guest: ptr.To(resource.MustParse("128Mi"))},
		Machine: &v1alpha1.Machine{Type: "q35"},
		Firmware: &v1alpha1.Firmware{KernelBoot: &v1alpha1.KernelBoot{
			KernelArgs: "console=ttyS0",
			Container:  &v1alpha1.KernelBootContainer{Image: "r.example/g:1", KernelPath: "/boot/vmlinux", InitrdPath: "/boot/initrd.img", ImagePullPolicy: "IfNotPresent"},
		}},
		Devices: v1alpha1.Devices{AutoattachSerialConsole: ptr.To(true)},
	}
	return vmi
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendered XML (go test -update rewrites it):\n%s", path, got)
	}
}

func TestRenderGolden(t *testing.T) {
	out, err := RenderXML(tinyVMI(), Options{Type: "qemu"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "tiny.xml", out)
}

func TestRenderDefaultsToKVM(t *testing.T) {
	dom, err := Render(tinyVMI(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dom.Type != "kvm" {
		t.Errorf("type %q, want kvm", dom.Type)
	}
}

func TestRenderNeedsUID(t *testing.T) {
	vmi := tinyVMI()
	vmi.UID = ""
	if _, err := Render(vmi, Options{}); err == nil {
		t.Fatal("rendered a VMI without a UID")
	}
}

func TestRenderParsesBack(t *testing.T) {
	out, err := RenderXML(tinyVMI(), Options{Type: "qemu"})
	if err != nil {
		t.Fatal(err)
	}
	dom, err := domainspec.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	md, err := domainspec.ReadMetadata(dom)
	if err != nil {
		t.Fatal(err)
	}
	if md.Namespace != "default" || md.Name != "tiny" || md.UID != string(tinyVMI().UID) || md.GracePeriodSeconds != 10 ||
		md.KernelBoot == nil || md.KernelBoot.Image != "r.example/g:1" {
		t.Errorf("metadata %+v", md)
	}
}

// A guest that powers off or crashes is gone (the node agent reports it);
// a reboot stays in the same domain.
func TestLifecycleAndName(t *testing.T) {
	dom, err := Render(tinyVMI(), Options{Type: "qemu"})
	if err != nil {
		t.Fatal(err)
	}
	if dom.Type != "qemu" || dom.Name != "default_tiny" || dom.UUID != string(tinyVMI().UID) {
		t.Errorf("type %q name %q uuid %q", dom.Type, dom.Name, dom.UUID)
	}
	if dom.OnPoweroff != "destroy" || dom.OnReboot != "restart" || dom.OnCrash != "destroy" {
		t.Errorf("on_poweroff %q on_reboot %q on_crash %q", dom.OnPoweroff, dom.OnReboot, dom.OnCrash)
	}
}

// RenderXML fails as Render does, with no XML.
func TestRenderXMLErrors(t *testing.T) {
	vmi := tinyVMI()
	vmi.UID = ""
	if out, err := RenderXML(vmi, Options{}); err == nil || out != "" {
		t.Errorf("RenderXML without a UID = %q, %v", out, err)
	}
	vmi = tinyVMI()
	vmi.Spec.Domain.Memory = nil
	if out, err := RenderXML(vmi, Options{}); err == nil || out != "" {
		t.Errorf("RenderXML without memory = %q, %v", out, err)
	}
}
