package webhooks

import (
	"encoding/json"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
)

// BenchmarkDecodeVMI compares ways to decode the realistic VMI into its Go
// type. The validating webhook takes the last: one DecodeObject, whose
// document the policies evaluate too, then TypedDecoder.
func BenchmarkDecodeVMI(b *testing.B) {
	raw, _ := os.ReadFile("../policies/testdata/vmi-realistic.json")
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	dec := admission.NewDecoder(s)
	b.Run("admission.Decoder", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			v := &v1alpha1.VirtualMachineInstance{}
			if err := dec.DecodeRaw(runtime.RawExtension{Raw: raw}, v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sigs.k8s.io/json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			v := &v1alpha1.VirtualMachineInstance{}
			if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			v := &v1alpha1.VirtualMachineInstance{}
			if err := json.Unmarshal(raw, v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("policies.DecodeObject+TypedDecoder", func(b *testing.B) {
		var typed policies.TypedDecoder
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			obj, err := policies.DecodeObject(raw)
			if err != nil {
				b.Fatal(err)
			}
			v := &v1alpha1.VirtualMachineInstance{}
			if err := typed.Decode(obj, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
