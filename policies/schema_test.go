package policies

import (
	"context"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/util/version"
)

const testCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
spec:
  group: example.com
  names: {kind: Thing, plural: things}
  scope: Namespaced
  versions:
  - {name: v1, served: true, storage: false}
  - name: v2
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            properties:
              num: {type: number}
              i: {type: integer}
              d: {type: string, format: date-time}
              q: {x-kubernetes-int-or-string: true}
              open: {type: object, x-kubernetes-preserve-unknown-fields: true}
              closed:
                type: object
                x-kubernetes-preserve-unknown-fields: true
                properties: {known: {type: string}}
              items:
                type: array
                items: {type: object, properties: {num: {type: number}}}
              m:
                type: object
                additionalProperties: {type: number}
`

// A compiler over another resource's schema: numbers and open objects are
// dyn, formatted strings are strings, declared objects stay closed.
func TestCompilerOverACustomSchema(t *testing.T) {
	s, err := SchemaFromCRD([]byte(testCRD), "v2")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCompiler(CompilerOptions{VMISchema: s})
	if err != nil {
		t.Fatal(err)
	}
	doc := decode(t, `{"apiVersion":"example.com/v2","kind":"Thing","metadata":{"name":"t","labels":{"a":"b"}},
		"spec":{"num":1,"i":2,"d":"2024-01-01T00:00:00Z","q":"50%","open":{"any":{"deep":"x"}},"closed":{"known":"k"},"items":[{"num":2.5}],"m":{"a":1}}}`)
	in := NewInputFromObjects(admissionv1.Create, doc, nil, nil, nil, nil)
	for _, expr := range []string{
		"object.spec.num == 1 && object.spec.items[0].num == 2.5 && object.spec.m['a'] == 1",
		"object.spec.i == 2",
		"object.spec.d == '2024-01-01T00:00:00Z' && timestamp(object.spec.d) > timestamp('2020-01-01T00:00:00Z')",
		"object.spec.open.any.deep == 'x'",
		"object.spec.closed.known == 'k'",
		"object.spec.q == '50%'",
		"object.metadata.labels['a'] == 'b' && object.metadata.name == 't'",
	} {
		cp, errs := c.Compile(policyFromYAML(t, `spec: {validations: [{expression: "`+expr+`"}]}`))
		if len(errs) > 0 {
			t.Errorf("%s: %v", expr, errs)
			continue
		}
		if res := cp.Evaluate(context.Background(), in); res.Outcome != Passed {
			t.Errorf("%s: %+v", expr, res)
		}
	}
	for expr, want := range map[string]string{
		"object.spec.closed.unknown == 'x'":                 "undefined field 'unknown'",
		"object.spec.missing == 1":                          "undefined field 'missing'",
		"object.spec.i == 'x'":                              "no matching overload",
		"object.spec.d < timestamp('2020-01-01T00:00:00Z')": "no matching overload",
		"object.metadata.lables == {}":                      "undefined field 'lables'",
	} {
		_, errs := c.Compile(policyFromYAML(t, `spec: {validations: [{expression: "`+expr+`"}]}`))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
			t.Errorf("%s: %v, want %q", expr, errs, want)
		}
	}
}

func TestSchemaFromCRDErrors(t *testing.T) {
	for version, want := range map[string]string{"v1": "has no schema", "v3": "has no version v3"} {
		if _, err := SchemaFromCRD([]byte(testCRD), version); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", version, err, want)
		}
	}
	if _, err := SchemaFromCRD([]byte("{"), "v1"); err == nil || !strings.Contains(err.Error(), "decoding the CRD") {
		t.Errorf("bad manifest: %v", err)
	}
}

// The compatibility version selects the CEL libraries of new expressions,
// as kube-apiserver's emulated version does; stored expressions see them
// all.
func TestCompatibilityVersion(t *testing.T) {
	old, err := NewCompiler(CompilerOptions{CompatibilityVersion: version.MajorMinor(1, 29)})
	if err != nil {
		t.Fatal(err)
	}
	p := policyFromYAML(t, `spec: {validations: [{expression: "format.dns1123Label().validate(object.metadata.name) == optional.none()"}]}`)
	if errs := old.Validate(p, nil); len(errs) == 0 {
		t.Error("the format library is new in Kubernetes 1.31, yet accepted for 1.29")
	}
	if _, errs := old.Compile(p); len(errs) != 0 {
		t.Errorf("stored expression for 1.29: %v", errs)
	}
	if errs := compiler(t).Validate(p, nil); len(errs) != 0 {
		t.Errorf("default version: %v", errs)
	}
}
