package domain

import (
	"regexp"
	"strings"
	"testing"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func TestFirmwareSerial(t *testing.T) {
	dom, err := Render(tinyVMI(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dom.SysInfo) != 0 || dom.OS.SMBios != nil {
		t.Errorf("sysinfo %+v smbios %+v without a serial", dom.SysInfo, dom.OS.SMBios)
	}
	vmi := tinyVMI()
	vmi.Spec.Domain.Firmware.Serial = "SN-42"
	if dom, err = Render(vmi, Options{}); err != nil {
		t.Fatal(err)
	}
	if len(dom.SysInfo) != 1 || dom.SysInfo[0].SMBIOS == nil || dom.SysInfo[0].SMBIOS.System == nil {
		t.Fatalf("sysinfo %+v", dom.SysInfo)
	}
	if e := dom.SysInfo[0].SMBIOS.System.Entry; len(e) != 1 || e[0].Name != "serial" || e[0].Value != "SN-42" {
		t.Errorf("smbios system entries %+v", e)
	}
	if dom.OS.SMBios == nil || dom.OS.SMBios.Mode != "sysinfo" {
		t.Errorf("os smbios %+v, want mode sysinfo", dom.OS.SMBios)
	}
}

// renderXML renders vmi and returns the XML without the indentation
// between elements, failing the test on error.
func renderXML(t *testing.T, vmi *v1alpha1.VirtualMachineInstance) string {
	t.Helper()
	x, err := RenderXML(vmi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return betweenTags.ReplaceAllString(x, "><")
}

var betweenTags = regexp.MustCompile(`>\s+<`)

// wantXML fails unless x holds every fragment, and none of the unwanted.
func wantXML(t *testing.T, x string, want []string, unwanted ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(x, w) {
			t.Errorf("the XML lacks %s:\n%s", w, x)
		}
	}
	for _, u := range unwanted {
		if strings.Contains(x, u) {
			t.Errorf("the XML has %s:\n%s", u, x)
		}
	}
}

func TestChassis(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Firmware.Serial = "SN-42"
	vmi.Spec.Domain.Chassis = &v1alpha1.Chassis{Manufacturer: "Acme", Version: "2", Serial: "CH-1", Asset: "A-7", Sku: "S9"}
	wantXML(t, renderXML(t, vmi), []string{
		`<smbios mode="sysinfo"></smbios>`,
		`<system><entry name="serial">SN-42</entry></system>`,
		`<chassis><entry name="manufacturer">Acme</entry><entry name="version">2</entry><entry name="serial">CH-1</entry><entry name="asset">A-7</entry><entry name="sku">S9</entry></chassis>`,
	})
	// Chassis alone; empty fields left out.
	vmi = tinyVMI()
	vmi.Spec.Domain.Chassis = &v1alpha1.Chassis{Asset: "A-7"}
	wantXML(t, renderXML(t, vmi), []string{`<sysinfo type="smbios"><chassis><entry name="asset">A-7</entry></chassis></sysinfo>`, `<smbios mode="sysinfo">`},
		"<system>", `name="manufacturer"`)
	// An empty chassis is no sysinfo.
	vmi = tinyVMI()
	vmi.Spec.Domain.Chassis = &v1alpha1.Chassis{}
	wantXML(t, renderXML(t, vmi), nil, "<sysinfo", "<smbios")
}
