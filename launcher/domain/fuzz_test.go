package domain

import (
	"strings"
	"testing"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/types"

	"github.com/podvirt/podvirt/domainspec"
)

// FuzzRenderRoundTrip renders VMIs whose user-controlled strings are
// crafted to break out of XML attributes or elements, and checks that the
// XML parses back to exactly the same values: no injection is possible.
func FuzzRenderRoundTrip(f *testing.F) {
	f.Add("default", "tiny", "console=ttyS0", "r.example/g:1", "abc", "/boot/vmlinux", "host-model")
	f.Add("ns", "x", `"/><qemu:commandline xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"><qemu:arg value="-foo"/>`, `'><hostdev/>`, "]]>", "/boot/&amp;", "<model>")
	f.Add("a'b", "c\"d", "</cmdline></os><devices><hostdev/></devices><os><cmdline>", "i", "\x00", "/k", "x")
	f.Fuzz(func(t *testing.T, ns, name, args, image, serial, kernel, model string) {
		for _, s := range []string{ns, name, args, image, serial, kernel, model} {
			// XML 1.0 cannot carry these at all; the API server's JSON
			// would, so the renderer must fail cleanly rather than emit them.
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool {
				return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF
			}) {
				return
			}
		}
		vmi := tinyVMI()
		vmi.Namespace, vmi.Name, vmi.UID = ns, name, types.UID("uid-1")
		vmi.Spec.Domain.Firmware.KernelBoot.KernelArgs = args
		vmi.Spec.Domain.Firmware.KernelBoot.Container.Image = image
		vmi.Spec.Domain.Firmware.KernelBoot.Container.KernelPath = kernel
		vmi.Spec.Domain.Firmware.Serial = serial
		vmi.Spec.Domain.CPU.Model = model
		out, err := RenderXML(vmi, Options{Type: "qemu"})
		if err != nil {
			return
		}
		dom, err := domainspec.Parse(out)
		if err != nil {
			t.Fatalf("rendered XML does not parse: %v\n%s", err, out)
		}
		md, err := domainspec.ReadMetadata(dom)
		if err != nil {
			t.Fatalf("metadata: %v\n%s", err, out)
		}
		if dom.Name != domainspec.Name(ns, name) || md.Namespace != ns || md.Name != name || md.KernelBoot.Image != image ||
			dom.OS.Cmdline != args || dom.OS.Kernel != kernel {
			t.Fatalf("round trip changed values:\n%s", out)
		}
		if serial != "" && (len(dom.SysInfo) != 1 || dom.SysInfo[0].SMBIOS.System.Entry[0].Value != serial) {
			t.Fatalf("serial changed:\n%s", out)
		}
		if dom.Devices == nil || len(dom.Devices.Hostdevs) != 0 || dom.QEMUCommandline != nil || len(dom.Devices.Disks) != 0 {
			t.Fatalf("injected devices:\n%s", out)
		}
	})
}
