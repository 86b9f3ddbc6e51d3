package policies

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/podvirt/podvirt/crds/v1alpha1"
)

// testCompiler is shared by the tests: building one reads and converts the
// VMI schema.
var testCompiler = sync.OnceValues(func() (*Compiler, error) { return NewCompiler(CompilerOptions{}) })

func compiler(tb testing.TB) *Compiler {
	tb.Helper()
	c, err := testCompiler()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func policyFromYAML(tb testing.TB, doc string) *v1alpha1.VMIPolicy {
	tb.Helper()
	var p v1alpha1.VMIPolicy
	if err := yaml.UnmarshalStrict([]byte(doc), &p); err != nil {
		tb.Fatalf("policy: %v\n%s", err, doc)
	}
	if p.Name == "" {
		p.Name = "test"
	}
	return &p
}

func TestCompileRejectsTyposWithPosition(t *testing.T) {
	p := policyFromYAML(t, `
spec:
  validations:
  - expression: object.spec.domian.cpu.cores <= 4
`)
	_, errs := compiler(t).Compile(p)
	if len(errs) != 1 {
		t.Fatalf("want one error, got %v", errs)
	}
	got := errs[0].Error()
	want := `spec.validations[0].expression: Invalid value: "object.spec.domian.cpu.cores <= 4": compilation failed: ERROR: <input>:1:12: undefined field 'domian'`
	if !strings.HasPrefix(got, want) {
		t.Errorf("error:\n%s\nwant prefix:\n%s", got, want)
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name, policy string
		want         []string // substrings, one per expected error
	}{
		{"valid", `
spec:
  variables: [{name: cores, expression: "object.spec.domain.?cpu.?cores.orValue(1)"}]
  matchConditions: [{name: has-labels, expression: "has(object.metadata.labels)"}]
  validations:
  - expression: variables.cores <= 4
    messageExpression: "'too many cores: ' + string(variables.cores)"
  auditAnnotations: [{key: cores, valueExpression: "string(variables.cores)"}]
`, nil},
		{"not bool", `
spec: {validations: [{expression: "object.metadata.name"}]}`, []string{"must evaluate to bool but got string"}},
		{"typed field type error", `
spec: {validations: [{expression: "object.spec.domain.cpu.cores == 'two'"}]}`, []string{"found no matching overload for '_==_'"}},
		{"metadata is ObjectMeta", `
spec: {validations: [{expression: "object.metadata.lables.size() > 0"}]}`, []string{"undefined field 'lables'"}},
		{"formatted strings are strings", `
spec: {validations: [{expression: "timestamp(object.metadata.creationTimestamp) > timestamp('2020-01-01T00:00:00Z')"}]}`, nil},
		{"params undeclared without params", `
spec: {validations: [{expression: "params.x"}]}`, []string{"undeclared reference to 'params'"}},
		{"message expression must be string", `
spec: {validations: [{expression: "true", messageExpression: "1"}]}`, []string{"must evaluate to string but got int"}},
		{"audit annotation string or null", `
spec: {auditAnnotations: [{key: k, valueExpression: "1"}]}`, []string{"must evaluate to one of [string null_type] but got int"}},
		{"later variable not visible", `
spec:
  variables: [{name: a, expression: "variables.b"}, {name: b, expression: "1"}]
  validations: [{expression: "variables.a == 1"}]`, []string{"undefined field 'b'"}},
		{"matchConditions cannot use variables", `
spec:
  variables: [{name: a, expression: "true"}]
  matchConditions: [{name: m, expression: "variables.a"}]
  validations: [{expression: "true"}]`, []string{"undeclared reference to 'variables'"}},
		{"deny and warn", `
spec: {validationActions: [Deny, Warn], validations: [{expression: "true"}]}`, []string{"must not contain both Deny and Warn"}},
		{"variables are typed", `
spec:
  variables: [{name: num, expression: "1"}, {name: l, expression: "[1, 2]"}, {name: m, expression: "{'a': true}"}]
  validations: [{expression: "variables.num == 'x'"}, {expression: "variables.l[0] == 'x'"}, {expression: "variables.m.a == 1"}]`, []string{"found no matching overload for '_==_'", "found no matching overload for '_==_'", "found no matching overload for '_==_'"}},
		{"bad variable name", `
spec: {variables: [{name: "in", expression: "1"}], validations: [{expression: "true"}]}`, []string{"must be a valid CEL identifier"}},
		{"nothing to check", `spec: {}`, []string{"validations or auditAnnotations must contain at least one item"}},
		{"paramRef without kind and with params", `
spec:
  params: {a: 1}
  paramRef: {name: x}
  validations: [{expression: "true"}]`, []string{"mutually exclusive", "paramKind and paramRef must be set together", "parameterNotFoundAction: Required value"}},
		{"message with newline", `
spec: {validations: [{expression: "true", message: "a\nb"}]}`, []string{"must not contain line breaks"}},
		{"bad reason", `
spec: {validations: [{expression: "true", reason: Teapot}]}`, []string{`Unsupported value: "Teapot"`}},
		{"inline params must be an object", `
spec: {params: [1], validations: [{expression: "true"}]}`, []string{"must be an object"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := compiler(t).Compile(policyFromYAML(t, tc.policy))
			if len(errs) != len(tc.want) {
				t.Fatalf("errors: %v, want %d containing %q", errs, len(tc.want), tc.want)
			}
			for i, want := range tc.want {
				if !strings.Contains(errs[i].Error(), want) {
					t.Errorf("error %d: %v, want it to contain %q", i, errs[i], want)
				}
			}
		})
	}
}

func TestTooManyMatchConditions(t *testing.T) {
	p := policyFromYAML(t, `spec: {validations: [{expression: "true"}]}`)
	for i := 0; i < MaxMatchConditions+1; i++ {
		p.Spec.MatchConditions = append(p.Spec.MatchConditions, v1alpha1MatchCondition(i))
	}
	_, errs := compiler(t).Compile(p)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "must have at most 64 items") {
		t.Errorf("errors: %v", errs)
	}
}

func TestValidateUsesNewExpressionsForNewExpressionsOnly(t *testing.T) {
	c := compiler(t)
	p := policyFromYAML(t, `spec: {validations: [{expression: "object.metadata.name != ''"}]}`)
	if errs := c.Validate(p, nil); len(errs) > 0 {
		t.Fatalf("create: %v", errs)
	}
	updated := p.DeepCopy()
	updated.Spec.Validations[0].Expression = "object.spec.domian == null"
	errs := c.Validate(updated, p)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "undefined field 'domian'") {
		t.Errorf("update: %v", errs)
	}
}

func TestCostEstimates(t *testing.T) {
	p := policyFromYAML(t, `
spec:
  validations:
  - expression: object.spec.domain.cpu.cores <= 4
  - expression: object.metadata.labels.exists(k, k.startsWith('x'))
  - expression: object.spec.?volumes.orValue([]).all(v, !has(v.hostDisk))
`)
	cp, errs := compiler(t).Compile(p)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	costs := cp.Costs()
	if costs[0].Max > 10 || costs[0].ExceedsPerCallLimit {
		t.Errorf("a field comparison should be cheap: %+v", costs[0])
	}
	if !costs[1].ExceedsPerCallLimit || costs[1].MaxSmallObject > 100000 {
		t.Errorf("iterating unbounded labels: bounded for small objects only: %+v", costs[1])
	}
	if costs[2].ExceedsPerCallLimit {
		t.Errorf("volumes has maxItems, the walk is bounded: %+v", costs[2])
	}
	if !cp.untracked[0] || cp.untracked[len(sizeTiers)-1] {
		t.Errorf("untracked tiers: %v", cp.untracked)
	}
}

func v1alpha1MatchCondition(i int) admissionregistrationv1.MatchCondition {
	return admissionregistrationv1.MatchCondition{Name: fmt.Sprintf("m%d", i), Expression: "true"}
}

// A params extension without content (as a Go client may build it) is a
// policy with params and no document: params is null.
func TestEmptyInlineParams(t *testing.T) {
	p := policyFromYAML(t, `spec: {validations: [{expression: "params == null"}]}`)
	p.Spec.Params = &runtime.RawExtension{}
	cp, errs := compiler(t).Compile(p)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if res := cp.Evaluate(context.Background(), NewInputFromObjects(admissionv1.Create, decode(t, testVMI), nil, nil, nil, nil)); res.Outcome != Passed {
		t.Errorf("got %+v", res)
	}
}
