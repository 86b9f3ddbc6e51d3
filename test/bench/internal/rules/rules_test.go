package rules

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestParse(t *testing.T) {
	in := "# a comment\n\nmax-cores\tobject.spec.domain.cpu.cores <= 8\tcores must be <= 8\r\nlabel-app\thas(object.metadata.labels)\tlabel app is required\n"
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		{Name: "max-cores", Expression: "object.spec.domain.cpu.cores <= 8", Message: "cores must be <= 8"},
		{Name: "label-app", Expression: "has(object.metadata.labels)", Message: "label app is required"},
	}
	if len(got) != len(want) {
		t.Fatalf("Parse = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("rule %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"only-two\tfields\n",
		"a\tx\tm\na\ty\tm\n",
		"\tx\tm\n",
		"a\tb\tc\td\n",
	} {
		if _, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("Parse(%q) did not fail", in)
		}
	}
}

func TestRules16File(t *testing.T) {
	rs, err := Load("../../testdata/rules-16.tsv")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 16 {
		t.Fatalf("rules-16.tsv has %d rules", len(rs))
	}
	for _, r := range rs {
		if !strings.Contains(r.Expression, "object.") {
			t.Errorf("rule %s does not read the object: %q", r.Name, r.Expression)
		}
	}
}

func field(t *testing.T, o *unstructured.Unstructured, path ...string) any {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(o.Object, path...)
	if err != nil || !ok {
		t.Fatalf("%s %s: no %v (%v)", o.GetKind(), o.GetName(), path, err)
	}
	return v
}

func TestRenderedObjects(t *testing.T) {
	r := Rule{Name: "max-cores", Expression: "object.spec.domain.cpu.cores <= 8", Message: "cores must be <= 8"}
	vp := VMIPolicy(r)
	pol, bind := VAP(r)
	kp := KyvernoPolicy(r)
	for _, o := range []*unstructured.Unstructured{vp, pol, bind, kp} {
		if o.GetName() != "bench-max-cores" {
			t.Errorf("%s name = %q", o.GetKind(), o.GetName())
		}
		if o.GetLabels()[Label] != "true" {
			t.Errorf("%s lacks the benchmark label", o.GetKind())
		}
	}
	if vp.GetAPIVersion() != "podvirt.io/v1alpha1" || vp.GetKind() != "VMIPolicy" {
		t.Errorf("VMIPolicy is %s %s", vp.GetAPIVersion(), vp.GetKind())
	}
	for _, o := range []*unstructured.Unstructured{vp, pol, kp} {
		vs := field(t, o, "spec", "validations").([]any)
		v := vs[0].(map[string]any)
		if len(vs) != 1 || v["expression"] != r.Expression || v["message"] != r.Message {
			t.Errorf("%s validations = %v", o.GetKind(), vs)
		}
	}
	for _, o := range []*unstructured.Unstructured{vp, bind, kp} {
		if a := field(t, o, "spec", "validationActions").([]any); len(a) != 1 || a[0] != "Deny" {
			t.Errorf("%s validationActions = %v", o.GetKind(), a)
		}
	}
	if field(t, bind, "spec", "policyName") != pol.GetName() {
		t.Error("binding does not name its policy")
	}
	for _, o := range []*unstructured.Unstructured{pol, kp} {
		rr := field(t, o, "spec", "matchConstraints", "resourceRules").([]any)[0].(map[string]any)
		if rr["resources"].([]any)[0] != "virtualmachineinstances" || rr["apiGroups"].([]any)[0] != "podvirt.io" {
			t.Errorf("%s resourceRules = %v", o.GetKind(), rr)
		}
	}
	if kp.GetAPIVersion() != "policies.kyverno.io/v1" || kp.GetKind() != "ValidatingPolicy" {
		t.Errorf("Kyverno policy is %s %s", kp.GetAPIVersion(), kp.GetKind())
	}
}
