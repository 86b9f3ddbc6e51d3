package webhooks

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/podvirt/podvirt/crds"
)

// BenchmarkAPIServerAppliesPatch measures what the kube-apiserver does
// with a mutating webhook's JSON patch of examples/vmi-tiny.yaml
// (k8s.io/apiserver's mutating dispatcher, abridged): encode the object,
// decode and apply the patch (evanphx/json-patch v4), decode the result,
// apply the CRD's structural defaults. 0 ops is no patch: none of it
// runs. 8 is the patch controller-runtime's defaulter sent (add /status
// included), 7 VMIDefaulter's, 4 what would be left if machine.type,
// evictionStrategy and autoattachSerialConsole were CRD schema defaults.
// It is why those stayed in the webhook (test/bench/README.md): the cost
// is per patch far more than per operation.
func BenchmarkAPIServerAppliesPatch(b *testing.B) {
	raw, _ := fs.ReadFile(crds.Bases, "bases/podvirt.io_virtualmachineinstances.yaml")
	var v1crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &v1crd); err != nil {
		b.Fatal(err)
	}
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(&v1crd)
	var crd apiextensions.CustomResourceDefinition
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1crd, &crd, nil); err != nil {
		b.Fatal(err)
	}
	var props *apiextensions.JSONSchemaProps
	if crd.Spec.Validation != nil {
		props = crd.Spec.Validation.OpenAPIV3Schema
	}
	for _, v := range crd.Spec.Versions {
		if v.Schema != nil {
			props = v.Schema.OpenAPIV3Schema
		}
	}
	s, err := structuralschema.NewStructural(props)
	if err != nil {
		b.Fatal(err)
	}
	y, _ := os.ReadFile("../examples/vmi-tiny.yaml")
	js, _ := yaml.YAMLToJSON(y)
	var obj map[string]any
	_ = json.Unmarshal(js, &obj)
	// The defaults no schema can give first, then the schema-expressible
	// ones, then controller-runtime's extra operation.
	ops := []string{
		`{"op":"add","path":"/spec/domain/firmware/kernelBoot/container/imagePullPolicy","value":"Always"}`,
		`{"op":"add","path":"/spec/domain/resources","value":{"requests":{"memory":"128Mi"}}}`,
		`{"op":"add","path":"/spec/domain/cpu/sockets","value":1}`,
		`{"op":"add","path":"/spec/domain/cpu/threads","value":1}`,
		`{"op":"add","path":"/spec/domain/devices/autoattachSerialConsole","value":true}`,
		`{"op":"add","path":"/spec/domain/machine","value":{"type":"q35"}}`,
		`{"op":"add","path":"/spec/evictionStrategy","value":"None"}`,
		`{"op":"add","path":"/status","value":{}}`,
	}
	for _, n := range []int{0, 4, 7, 8} {
		p := "[" + strings.Join(ops[:n], ",") + "]"
		b.Run(fmt.Sprint(n, "ops"), func(b *testing.B) {
			b.ReportAllocs()
			c0 := processCPU()
			for i := 0; i < b.N; i++ {
				if n == 0 {
					continue
				}
				u := &unstructured.Unstructured{Object: obj}
				doc, _ := u.MarshalJSON()
				patch, err := jsonpatch.DecodePatch([]byte(p))
				if err != nil {
					b.Fatal(err)
				}
				out, err := patch.Apply(doc)
				if err != nil {
					b.Fatal(err)
				}
				nu := &unstructured.Unstructured{}
				if err := nu.UnmarshalJSON(out); err != nil {
					b.Fatal(err)
				}
				structuraldefaulting.Default(nu.Object, s)
			}
			b.ReportMetric(float64(processCPU()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
}
