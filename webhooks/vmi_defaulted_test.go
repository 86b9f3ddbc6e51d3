package webhooks

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// TestNotDefaultedNamesEachMissingDefault: a VMI created without the
// kube-apiserver's defaults is refused with one error per member the Go
// defaulter would set, at its field path, the remedy said once; the same
// VMI defaulted passes.
func TestNotDefaultedNamesEachMissingDefault(t *testing.T) {
	raw := []byte(strings.Replace(minimalVMI, `"memory":{"guest":"128Mi"},`, `"memory":{"guest":"128Mi"},"machine":{"type":"q35"},"devices":{"disks":[{"name":"a","cdrom":{}}]},`, 1))
	_, vmi, err := (&VMIValidator{}).decodeVMI(raw)
	if err != nil {
		t.Fatal(err)
	}
	errs := notDefaulted(raw, vmi)
	got := map[string]string{}
	for _, e := range errs {
		if e.Type != field.ErrorTypeRequired {
			t.Errorf("%s: type %s, want Required", e.Field, e.Type)
		}
		got[e.Field] = e.Detail
	}
	for _, want := range []string{
		"spec.domain.cpu", "spec.domain.features", "spec.domain.resources",
		"spec.domain.devices.disks[0].cdrom.bus", "spec.domain.devices.disks[0].cdrom.readonly",
		"spec.domain.devices.autoattachSerialConsole", "spec.networks", "spec.evictionStrategy",
		"spec.terminationGracePeriodSeconds", "spec.domain.firmware.kernelBoot.container.imagePullPolicy",
	} {
		if _, ok := got[want]; !ok {
			t.Errorf("no error at %s; got %v", want, errs)
		}
	}
	if _, ok := got["spec.domain.machine"]; ok {
		t.Error("spec.domain.machine named: it carries its default")
	}
	if n := strings.Count(errs.ToAggregate().Error(), "MutatingAdmissionPolicy podvirt-vmi-defaults"); n != 1 {
		t.Errorf("the remedy said %d times, want once: %v", n, errs)
	}
	if !strings.Contains(got["spec.domain.devices.disks[0].cdrom.bus"], `"sata"`) {
		t.Errorf("the cdrom bus error does not say the default: %q", got["spec.domain.devices.disks[0].cdrom.bus"])
	}

	def := defaultedJSON(t, raw)
	_, vmi, err = (&VMIValidator{}).decodeVMI(def)
	if err != nil {
		t.Fatal(err)
	}
	if errs := notDefaulted(def, vmi); len(errs) != 0 {
		t.Errorf("a defaulted VMI: %v", errs)
	}
}
