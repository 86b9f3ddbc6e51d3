package policies

import (
	"context"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Which requests a policy applies to: operations, the namespace's labels
// (unknown namespace: only the everything selector), the new or the old
// object's labels.
func TestMatchConstraints(t *testing.T) {
	prod := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{"env": "prod"}}}
	web := decode(t, testVMI)
	other := decode(t, strings.Replace(testVMI, `"app":"web"`, `"app":"db"`, 1))
	cases := []struct {
		name, constraints string
		op                admissionv1.Operation
		object, old       *Object
		namespace         *corev1.Namespace
		applies           bool
	}{
		{"no constraints, create", ``, admissionv1.Create, web, nil, nil, true},
		{"no constraints, update", ``, admissionv1.Update, web, web, nil, true},
		{"no constraints, delete", ``, admissionv1.Delete, nil, web, nil, false},
		{"no constraints, connect", ``, admissionv1.Connect, web, nil, nil, false},
		{"empty constraints", `matchConstraints: {}, `, admissionv1.Update, web, web, nil, true},
		{"create only", `matchConstraints: {operations: [CREATE]}, `, admissionv1.Update, web, web, nil, false},
		{"create only, create", `matchConstraints: {operations: [CREATE]}, `, admissionv1.Create, web, nil, nil, true},
		{"update only, update", `matchConstraints: {operations: [UPDATE]}, `, admissionv1.Update, web, web, nil, true},
		{"all", `matchConstraints: {operations: ["*"]}, `, admissionv1.Update, web, web, nil, true},
		{"all, create", `matchConstraints: {operations: ["*"]}, `, admissionv1.Create, web, nil, nil, true},
		{"namespace matches", `matchConstraints: {namespaceSelector: {matchLabels: {env: prod}}}, `, admissionv1.Create, web, nil, prod, true},
		{"namespace differs", `matchConstraints: {namespaceSelector: {matchLabels: {env: dev}}}, `, admissionv1.Create, web, nil, prod, false},
		{"namespace unknown", `matchConstraints: {namespaceSelector: {matchLabels: {env: prod}}}, `, admissionv1.Create, web, nil, nil, false},
		{"namespace unknown, everything", `matchConstraints: {namespaceSelector: {}}, `, admissionv1.Create, web, nil, nil, true},
		{"object matches", `matchConstraints: {objectSelector: {matchLabels: {app: web}}}, `, admissionv1.Create, web, nil, nil, true},
		{"object differs", `matchConstraints: {objectSelector: {matchLabels: {app: web}}}, `, admissionv1.Create, other, nil, nil, false},
		{"old object matches", `matchConstraints: {objectSelector: {matchLabels: {app: web}}}, `, admissionv1.Update, other, web, nil, true},
		{"neither matches", `matchConstraints: {objectSelector: {matchLabels: {app: web}}}, `, admissionv1.Update, other, other, nil, false},
	}
	for _, tc := range cases {
		cp, errs := compiler(t).Compile(policyFromYAML(t, `spec: {`+tc.constraints+`validations: [{expression: "false"}]}`))
		if len(errs) > 0 {
			t.Fatalf("%s: %v", tc.name, errs)
		}
		res := cp.Evaluate(context.Background(), NewInputFromObjects(tc.op, tc.object, tc.old, tc.namespace, nil, nil))
		if applies := res.Outcome != Skipped; applies != tc.applies {
			t.Errorf("%s: applies %v, want %v", tc.name, applies, tc.applies)
		}
	}
}

// StaticParams finds objects of the kind by name or selector, in the
// namespace or cluster-scoped; "v1" and "core/v1" are the same version.
func TestStaticParams(t *testing.T) {
	objs := []*Object{
		decode(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"prod","labels":{"t":"x"}}}`),
		decode(t, `{"apiVersion":"core/v1","kind":"ConfigMap","metadata":{"name":"b","namespace":"prod","labels":{"t":"x"}}}`),
		decode(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"dev","labels":{"t":"x"}}}`),
		decode(t, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a","namespace":"prod","labels":{"t":"x"}}}`),
		decode(t, `{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"a","namespace":"prod","labels":{"t":"x"}}}`),
		decode(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":{"t":"y"}}}`),
	}
	src := NewStaticParams(objs...)
	kind := admissionregistrationv1.ParamKind{APIVersion: "core/v1", Kind: "ConfigMap"}
	find := func(namespace, name string, selector labels.Selector) string {
		found, err := src.Params(context.Background(), kind, namespace, name, selector)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, o := range found {
			names = append(names, o.Namespace()+"/"+o.Name())
		}
		return strings.Join(names, " ")
	}
	if got := find("prod", "a", nil); got != "prod/a" {
		t.Errorf("by name: %q", got)
	}
	if got := find("prod", "", labels.SelectorFromSet(labels.Set{"t": "x"})); got != "prod/a prod/b" {
		t.Errorf("by selector: %q", got)
	}
	if got := find("dev", "", labels.Everything()); got != "dev/a /c" {
		t.Errorf("everything in dev: %q", got)
	}
	if got := find("other", "c", nil); got != "/c" {
		t.Errorf("cluster-scoped by name: %q", got)
	}
	if _, err := src.Params(context.Background(), kind, "prod", "", nil); err == nil {
		t.Error("neither name nor selector: want an error")
	}
}

// The optional library's or() and orValue() behave alike with and without
// cost tracking.
func TestOptionalOrAndOrValue(t *testing.T) {
	in := NewInputFromObjects(admissionv1.Create, decode(t, testVMI), nil, nil, nil, nil)
	for _, expr := range []string{
		"object.spec.?hostname.or(optional.of('h')).value() == 'h'",
		"object.metadata.?name.or(optional.of('h')).value() == 'vm'",
		"optional.none().or(optional.none()).orValue('d') == 'd'",
		"object.spec.?hostname.orValue('h') == 'h'",
		"object.metadata.?name.orValue('h') == 'vm'",
		"!object.spec.?hostname.or(object.spec.?subdomain).hasValue()",
	} {
		cp, errs := compiler(t).Compile(policyFromYAML(t, `spec: {validations: [{expression: "`+expr+`"}]}`))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		for _, track := range []bool{false, true} {
			if track {
				cp.untracked = [len(sizeTiers)]bool{}
			} else if !cp.untracked[in.tier] {
				t.Fatalf("%s runs tracked", expr)
			}
			if res := cp.Evaluate(context.Background(), in); res.Outcome != Passed {
				t.Errorf("%s (tracked %v): %+v", expr, track, res)
			}
		}
	}
	// An error on the left is the result.
	res := evaluateYAML(t, `spec: {validations: [{expression: "optional.of(object.spec.priorityClassName).orValue('x') == 'x'"}]}`)
	if res.Outcome != Errored {
		t.Errorf("%+v", res)
	}
}

// Documents are sized by the smallest tier holding them.
func TestSizeTiers(t *testing.T) {
	for size, want := range map[int]int{0: 0, 4096: 0, 4097: 1, 16384: 1, 16385: 2, 3 << 20: len(sizeTiers) - 1, 3<<20 + 1: -1} {
		if got := tierFor(size); got != want {
			t.Errorf("tierFor(%d) = %d, want %d", size, got, want)
		}
	}
}

// A set returns results only for the policies that apply; audit
// annotations of the same key from several policies are joined.
func TestPolicySetResults(t *testing.T) {
	var policies []*CompiledPolicy
	for name, spec := range map[string]string{
		"a": `{auditAnnotations: [{key: k, valueExpression: "'x'"}]}`,
		"b": `{matchConditions: [{name: m, expression: "false"}], validations: [{expression: "false"}]}`,
		"c": `{auditAnnotations: [{key: k, valueExpression: "'y'"}]}`,
	} {
		p := policyFromYAML(t, `{metadata: {name: `+name+`}, spec: `+spec+`}`)
		cp, errs := compiler(t).Compile(p)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		policies = append(policies, cp)
	}
	set := NewPolicySet(policies)
	results := set.Evaluate(context.Background(), NewInputFromObjects(admissionv1.Create, decode(t, testVMI), nil, nil, nil, nil), nil)
	if len(results) != 2 || results[0].Policy != "a" || results[1].Policy != "c" || set.Policy("b") == nil || set.Policy("z") != nil {
		t.Fatalf("results %+v", results)
	}
	results[1].AuditAnnotations[0].Key = "a/k"
	if v := set.Decide(results); v.AuditAnnotations["a/k"] != "x, y" || !v.Allowed {
		t.Errorf("verdict %+v", v)
	}
}
