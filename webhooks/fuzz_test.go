package webhooks

import (
	"context"
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/webhooks/vmirules"
)

// FuzzVMIAdmission feeds arbitrary request bodies to the defaulter and the
// validator: they must answer (never panic), and whatever decodes must
// default idempotently.
func FuzzVMIAdmission(f *testing.F) {
	f.Add([]byte(minimalVMI))
	f.Add([]byte(`{"spec":{"domain":{"devices":{"disks":[{"name":"a","cdrom":{}}]}},"volumes":[{"name":"a","emptyDisk":{"capacity":"1Gi"}}]}}`))
	f.Add([]byte(`{"spec":{"domain":{"resources":{"limits":{"cpu":"2500m"}}},"networks":[{"name":"x"}]}}`))
	f.Add([]byte(`{"spec":{"domain":{"memory":{"guest":"-1"}}}}`))
	f.Add([]byte(`{"metadata":{"name":"\u0000<"},"spec":null}`))
	def := NewVMIDefaulter()
	val := &VMIValidator{}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update} {
			req := request(t, op, string(raw))
			req.OldObject = req.Object
			_ = def.Handle(context.Background(), req)
			_ = val.Handle(context.Background(), req)
		}
		vmi := &v1alpha1.VirtualMachineInstance{}
		if json.Unmarshal(raw, vmi) != nil {
			return
		}
		vmirules.Default(vmi)
		once := vmi.DeepCopy()
		vmirules.Default(vmi)
		if !equality.Semantic.DeepEqual(once, vmi) {
			t.Fatalf("defaulting is not idempotent for %s", raw)
		}
		_ = vmirules.Validate(vmi)
	})
}
