package policies

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvirt/podvirt/crds/v1alpha1"
)

// costly is true at a run-time cost of about 800,000 (40 scans of 200,000
// bytes, at 0.1 a byte), below the per-expression limit (1,000,000), so
// that a few of them exhaust a budget; costlyParams is the string it scans.
const costly = "lists.range(40).all(i, !params.s.contains('b'))"

var costlyParams = `params: {s: "` + strings.Repeat("a", 200000) + `"}`

func evaluateYAML(t *testing.T, policy string) PolicyResult {
	t.Helper()
	cp, errs := compiler(t).Compile(policyFromYAML(t, policy))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return cp.Evaluate(context.Background(), NewInputFromObjects(admissionv1.Create, decode(t, testVMI), nil, nil, nil, nil))
}

func repeated(n int, format string) string {
	var items []string
	for i := range n {
		items = append(items, fmt.Sprintf(format, i))
	}
	return strings.Join(items, ", ")
}

// Every expression is charged to its phase's budget, as in kube-apiserver:
// three costly matchConditions fit in their 2,500,000, a fourth does not.
func TestMatchConditionsShareABudget(t *testing.T) {
	for _, tc := range []struct {
		conditions int
		outcome    Outcome
	}{{3, Failed}, {4, Errored}} {
		res := evaluateYAML(t, fmt.Sprintf(`spec: {`+costlyParams+`, matchConditions: [%s], validations: [{expression: "false"}]}`,
			repeated(tc.conditions, `{name: c%d, expression: "`+costly+`"}`)))
		if res.Outcome != tc.outcome || !res.Denied() {
			t.Fatalf("%d conditions: outcome %s, want %s denied: %+v", tc.conditions, res.Outcome, tc.outcome, res)
		}
		if tc.outcome == Errored && !strings.Contains(res.Violations[0].Message, "running out of cost budget") {
			t.Errorf("%d conditions: %+v", tc.conditions, res.Violations)
		}
	}
}

// Twelve costly validations fit in the 10,000,000 of validations; the
// thirteenth runs out, and no validation after it runs.
func TestValidationsShareABudget(t *testing.T) {
	res := evaluateYAML(t, fmt.Sprintf(`spec: {`+costlyParams+`, validations: [%s, {expression: "false", message: "after"}]}`,
		repeated(13, `{expression: "`+costly+`", message: "v%d"}`)))
	if res.Outcome != Errored || !res.Denied() || len(res.Violations) != 1 {
		t.Fatalf("outcome %s: %+v", res.Outcome, res.Violations)
	}
	if v := res.Violations[0]; v.Validation != 12 || !v.Error || !strings.Contains(v.Message, "running out of cost budget") {
		t.Errorf("violation %+v", v)
	}
}

// The first denial decides: policies run in name order whatever order the
// set was built in, validations in their order, and the verdict quotes the
// first denying violation.
func TestFirstDenialWins(t *testing.T) {
	var policies []*CompiledPolicy
	for _, name := range []string{"zeta", "alpha", "mid"} {
		p := policyFromYAML(t, `spec: {validations: [{expression: "true"}, {expression: "false", message: "first of `+name+`"}, {expression: "false", message: "second of `+name+`"}]}`)
		p.Name = name
		if name == "mid" {
			p.Spec.ValidationActions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn}
		}
		cp, errs := compiler(t).Compile(p)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		policies = append(policies, cp)
	}
	set := NewPolicySet(policies)
	results := set.Evaluate(context.Background(), NewInputFromObjects(admissionv1.Create, decode(t, testVMI), nil, nil, nil, nil), nil)
	var order []string
	for _, r := range results {
		order = append(order, r.Policy)
		if len(r.Violations) != 2 || r.Violations[0].Validation != 1 || r.Violations[1].Validation != 2 {
			t.Errorf("%s: violations %+v", r.Policy, r.Violations)
		}
	}
	if strings.Join(order, ",") != "alpha,mid,zeta" {
		t.Errorf("results in order %v", order)
	}
	v := set.Decide(results)
	if v.Allowed || v.Message != "VMIPolicy 'alpha' denied request: first of alpha" {
		t.Errorf("verdict %+v", v)
	}
	if len(v.Warnings) != 2 || v.Warnings[0] != "Validation failed for VMIPolicy 'mid': first of mid" {
		t.Errorf("warnings %q", v.Warnings)
	}
}

// A validation's reason defaults to Invalid; the verdict carries the
// reason's HTTP code.
func TestDenialReasonsAndCodes(t *testing.T) {
	for _, tc := range []struct {
		reason string
		want   metav1.StatusReason
		code   int32
	}{
		{"", metav1.StatusReasonInvalid, 422},
		{"reason: Forbidden", metav1.StatusReasonForbidden, 403},
		{"reason: RequestEntityTooLarge", metav1.StatusReasonRequestEntityTooLarge, 413},
		{"reason: Invalid", metav1.StatusReasonInvalid, 422},
	} {
		cp, errs := compiler(t).Compile(policyFromYAML(t, `spec: {validations: [{expression: "false", `+tc.reason+`}]}`))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		res := cp.Evaluate(context.Background(), NewInputFromObjects(admissionv1.Create, decode(t, testVMI), nil, nil, nil, nil))
		v := Decide([]PolicyResult{res}, nil)
		if res.Violations[0].Reason != tc.want || v.Reason != tc.want || v.Code != tc.code {
			t.Errorf("%q: violation reason %s, verdict %s %d, want %s %d", tc.reason, res.Violations[0].Reason, v.Reason, v.Code, tc.want, tc.code)
		}
	}
	// Denials built elsewhere: no reason is Invalid; Unauthorized is 401.
	for reason, code := range map[metav1.StatusReason]int32{"": 422, metav1.StatusReasonUnauthorized: 401, metav1.StatusReasonConflict: 422} {
		v := Decide([]PolicyResult{{Policy: "p", Violations: []Violation{{Message: "m", Reason: reason, Denies: true}}}}, nil)
		if v.Code != code || v.Reason == "" {
			t.Errorf("reason %q: verdict %s %d, want code %d", reason, v.Reason, v.Code, code)
		}
	}
}

// costFixture builds expressions of an exact cost, estimated or actual, to
// test the limits at their boundaries. The expressions scan strings of
// inline params: s, 200,000 bytes, for the bulk of the cost, and one
// field per target cost, whose length (0.1 a byte) makes up the rest.
type costFixture struct {
	t      *testing.T
	fields map[string]string
	exprs  map[string]string
}

func newCostFixture(t *testing.T) *costFixture {
	return &costFixture{t: t, fields: map[string]string{"s": strings.Repeat("a", 200000)}, exprs: map[string]string{}}
}

// policy is a policy with the fixture's params; edit fills in the rest.
func (f *costFixture) policy(edit func(*v1alpha1.VMIPolicySpec)) *v1alpha1.VMIPolicy {
	raw, err := json.Marshal(f.fields)
	if err != nil {
		f.t.Fatal(err)
	}
	p := &v1alpha1.VMIPolicy{ObjectMeta: metav1.ObjectMeta{Name: "limits"}}
	p.Spec.Params = &runtime.RawExtension{Raw: raw}
	p.Spec.Validations = []admissionregistrationv1.Validation{{Expression: "true"}}
	edit(&p.Spec)
	return p
}

// compile compiles a policy of the fixture, which must compile.
func (f *costFixture) compile(edit func(*v1alpha1.VMIPolicySpec)) *CompiledPolicy {
	f.t.Helper()
	cp, errs := compiler(f.t).Compile(f.policy(edit))
	if len(errs) > 0 {
		f.t.Fatal(errs)
	}
	return cp
}

// measure returns the estimated (largest size tier) or the actual cost of
// expr.
func (f *costFixture) measure(expr string, actual bool) uint64 {
	f.t.Helper()
	cp := f.compile(func(s *v1alpha1.VMIPolicySpec) {
		s.Variables = []admissionregistrationv1.Variable{{Name: "x", Expression: expr}}
	})
	if !actual {
		return cp.Costs()[0].Max
	}
	costs, _ := trackedCosts(f.t, cp, decode(f.t, testVMI))
	return costs[0]
}

// expr returns wrap (a format with one %s for a boolean expression true
// for the fixture's params) around an expression such that the whole
// costs exactly target, estimated or actual.
func (f *costFixture) expr(wrap string, target uint64, actual bool) string {
	f.t.Helper()
	key := fmt.Sprintf("%s/%d/%v", wrap, target, actual)
	if e, ok := f.exprs[key]; ok {
		return e
	}
	field := fmt.Sprintf("f%d", len(f.fields))
	f.fields[field] = ""
	build := func(n int) string {
		return fmt.Sprintf(wrap, fmt.Sprintf("lists.range(%d).all(i, !params.s.contains('b')) && !params.%s.contains('b')", n, field))
	}
	one, two := f.measure(build(1), actual), f.measure(build(2), actual)
	n := 1 + int((target-one)/(two-one))
	rest := target - f.measure(build(n), actual)
	// Each 10 bytes cost 1; 10r-5 bytes cost r whichever way 0.1 rounds.
	f.fields[field] = strings.Repeat("a", int(10*rest-5))
	e := build(n)
	if got := f.measure(e, actual); got != target {
		f.t.Fatalf("%s costs %d (actual: %v), want %d", e, got, actual, target)
	}
	f.exprs[key] = e
	return e
}

func repeatExpr(n int, e string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = e
	}
	return out
}

// A worst case equal to a limit is within it, as cel-go's tracker stops an
// evaluation only above its limit: an expression estimated at exactly the
// per-call limit does not exceed it, and a policy whose phases sum to
// exactly their budgets runs without cost tracking; one more is tracked.
func TestEstimatedLimitsAreInclusive(t *testing.T) {
	f := newCostFixture(t)
	const million, half = 1_000_000, 500_000
	bool1M, bool1M1 := f.expr("%s", million, false), f.expr("%s", million+1, false)
	boolHalf, boolHalf1 := f.expr("%s", half, false), f.expr("%s", half+1, false)
	str1M, strHalf, strHalf1 := f.expr("%s ? 'y' : 'n'", million, false), f.expr("%s ? 'y' : 'n'", half, false), f.expr("%s ? 'y' : 'n'", half+1, false)

	cases := []struct {
		name       string
		conditions []string
		validation []string
		annotation []string
		untracked  bool
	}{
		{"at the per-call limit", nil, []string{bool1M}, nil, true},
		{"above the per-call limit", nil, []string{bool1M1}, nil, false},
		{"matchConditions at their budget", repeatExpr(5, boolHalf), nil, nil, true},
		{"matchConditions above their budget", append(repeatExpr(4, boolHalf), boolHalf1), nil, nil, false},
		{"validations at their budget", nil, append(repeatExpr(9, bool1M), boolHalf, boolHalf), nil, true},
		{"validations above their budget", nil, append(repeatExpr(9, bool1M), boolHalf, boolHalf1), nil, false},
		{"audit annotations at their budget", nil, nil, append(repeatExpr(9, str1M), strHalf, strHalf), true},
		{"audit annotations above their budget", nil, nil, append(repeatExpr(9, str1M), strHalf, strHalf1), false},
	}
	for _, tc := range cases {
		cp := f.compile(func(s *v1alpha1.VMIPolicySpec) {
			for i, e := range tc.conditions {
				s.MatchConditions = append(s.MatchConditions, admissionregistrationv1.MatchCondition{Name: fmt.Sprintf("c%d", i), Expression: e})
			}
			for _, e := range tc.validation {
				s.Validations = append(s.Validations, admissionregistrationv1.Validation{Expression: e})
			}
			for i, e := range tc.annotation {
				s.AuditAnnotations = append(s.AuditAnnotations, admissionregistrationv1.AuditAnnotation{Key: fmt.Sprintf("a%d", i), ValueExpression: e})
			}
		})
		for tier, untracked := range cp.untracked {
			if untracked != tc.untracked {
				t.Errorf("%s: tier %d untracked %v, want %v", tc.name, tier, untracked, tc.untracked)
			}
		}
		if tc.name == "at the per-call limit" || tc.name == "above the per-call limit" {
			c := cp.Costs()[1] // after the fixture's validation "true"
			if c.ExceedsPerCallLimit != !tc.untracked || c.Max != map[bool]uint64{true: million, false: million + 1}[tc.untracked] {
				t.Errorf("%s: %+v", tc.name, c)
			}
		}
	}
}

// At run time too, spending exactly a budget is allowed; one more runs
// out of it (matchConditions: every phase charges its budget alike).
func TestRuntimeBudgetsAreInclusive(t *testing.T) {
	f := newCostFixture(t)
	const half = 500_000
	boolHalf, boolHalf1 := f.expr("%s", half, true), f.expr("%s", half+1, true)
	cases := []struct {
		name       string
		conditions []string
		outcome    Outcome
	}{
		{"matchConditions at their budget", repeatExpr(5, boolHalf), Passed},
		{"matchConditions above their budget", append(repeatExpr(4, boolHalf), boolHalf1), Errored},
	}
	for _, tc := range cases {
		cp := f.compile(func(s *v1alpha1.VMIPolicySpec) {
			for i, e := range tc.conditions {
				s.MatchConditions = append(s.MatchConditions, admissionregistrationv1.MatchCondition{Name: fmt.Sprintf("c%d", i), Expression: e})
			}
		})
		// Cost tracking is what is tested: force it.
		cp.untracked = [len(sizeTiers)]bool{}
		res := cp.Evaluate(context.Background(), NewInputFromObjects(admissionv1.Create, decode(t, testVMI), nil, nil, nil, nil))
		if res.Outcome != tc.outcome {
			t.Errorf("%s: outcome %s, want %s: %+v", tc.name, res.Outcome, tc.outcome, res.Violations)
		}
	}
}

// Failures with the Audit action are listed in one audit annotation, at
// most 50 of them; without any there is no such annotation.
func TestValidationFailureAnnotation(t *testing.T) {
	v := Decide([]PolicyResult{{Policy: "p", Outcome: Failed, Warnings: []string{"w"}, Violations: []Violation{{Message: "warned", Warns: true}}}}, nil)
	if _, ok := v.AuditAnnotations[ValidationFailureAnnotation]; ok || !v.Allowed {
		t.Errorf("without audited failures: %+v", v)
	}
	var violations []Violation
	for i := range 60 {
		violations = append(violations, Violation{Validation: i, Message: fmt.Sprintf("m%d", i), Audits: true})
	}
	cp, errs := compiler(t).Compile(policyFromYAML(t, `{metadata: {name: p}, spec: {validationActions: [Audit], validations: [{expression: "false"}]}}`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	v = Decide([]PolicyResult{{Policy: "p", Outcome: Failed, Violations: violations}}, map[string]*CompiledPolicy{"p": cp})
	var failures []map[string]any
	if err := json.Unmarshal([]byte(v.AuditAnnotations[ValidationFailureAnnotation]), &failures); err != nil {
		t.Fatal(err)
	}
	if len(failures) != 50 || failures[49]["message"] != "m49" || failures[0]["policy"] != "p" || failures[0]["binding"] != "p" ||
		failures[7]["expressionIndex"] != 7.0 || fmt.Sprint(failures[0]["validationActions"]) != "[Audit]" {
		t.Errorf("%d failures, first %v, last %v", len(failures), failures[0], failures[len(failures)-1])
	}
}

// Errors outside validations (a broken policy, a missing parameter, an
// audit annotation) are violations of no validation: index -1.
func TestErrorsOutsideValidations(t *testing.T) {
	broken := policyFromYAML(t, `spec: {validations: [{expression: "object.spec.domian"}]}`)
	cp, _ := compiler(t).Compile(broken)
	missing, errs := compiler(t).Compile(policyFromYAML(t, `spec: {paramKind: {apiVersion: v1, kind: ConfigMap}, paramRef: {name: none, parameterNotFoundAction: Deny}, validations: [{expression: "true"}]}`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	annotation, errs := compiler(t).Compile(policyFromYAML(t, `spec: {auditAnnotations: [{key: k, valueExpression: "object.spec.priorityClassName"}]}`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	in := NewInputFromObjects(admissionv1.Create, decode(t, testVMI), nil, nil, nil, NewStaticParams())
	for _, p := range []*CompiledPolicy{cp, missing, annotation} {
		res := p.Evaluate(context.Background(), in)
		if len(res.Violations) != 1 {
			t.Fatalf("%+v", res)
		}
		if v := res.Violations[0]; v.Validation != -1 || !v.Error || !v.Denies || v.Reason != metav1.StatusReasonInvalid || res.Outcome != Errored {
			t.Errorf("violation %+v", v)
		}
	}
}

// A parameter object larger than the VMI sizes the evaluation: a scan of
// a 200,000-byte ConfigMap value 60 times is cheap for a 4 KiB document
// but not for one of that size, and kube-apiserver would stop it.
func TestLargeParameterObjectsAreCharged(t *testing.T) {
	cp, errs := compiler(t).Compile(policyFromYAML(t, `
spec:
  paramKind: {apiVersion: v1, kind: ConfigMap}
  paramRef: {name: big, parameterNotFoundAction: Deny}
  validations: [{expression: "lists.range(60).all(i, !params.data.s.contains('b'))"}]`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	big := decode(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big","namespace":"prod"},"data":{"s":"`+strings.Repeat("a", 200000)+`"}}`)
	res := cp.Evaluate(context.Background(), NewInputFromObjects(admissionv1.Create, decode(t, testVMI), nil, nil, nil, NewStaticParams(big)))
	if res.Outcome != Errored || !strings.Contains(res.Violations[0].Message, "cost limit exceeded") {
		t.Errorf("outcome %s: %+v", res.Outcome, res.Violations)
	}
}

// Policies proven within the limits on a small VMI run without cost
// tracking, which allocates about ten times less.
func TestProvenPoliciesRunUntracked(t *testing.T) {
	cp, errs := compiler(t).Compile(policyFromYAML(t, `spec: {validations: [{expression: "object.spec.domain.cpu.cores <= 4"}, {expression: "object.metadata.name.startsWith('v')"}]}`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	set := NewPolicySet([]*CompiledPolicy{cp})
	in := NewInputFromObjects(admissionv1.Create, decode(t, testVMI), nil, nil, nil, nil)
	if in.tier != 0 {
		t.Fatalf("the test VMI is in tier %d", in.tier)
	}
	buf := make([]PolicyResult, 0, 1)
	allocs := testing.AllocsPerRun(50, func() {
		if res := set.Evaluate(context.Background(), in, buf[:0]); len(res) != 1 || res[0].Outcome != Passed {
			t.Fatalf("%+v", res)
		}
	})
	if allocs > 5 {
		t.Errorf("%v allocations per evaluation: cost-tracked?", allocs)
	}
}

// A message expression's result of at most 5 KiB is the message; a longer
// one falls back to message. Audit annotation values are cut at 10 KiB.
func TestMessageAndAnnotationSizes(t *testing.T) {
	const maxMessage, maxValue = 5 * 1024, 10 * 1024
	for _, tc := range []struct {
		size int
		want string
	}{{maxMessage, strings.Repeat("m", maxMessage)}, {maxMessage + 1, "static"}} {
		res := evaluateYAML(t, `spec: {validations: [{expression: "false", message: static, messageExpression: "'`+strings.Repeat("m", tc.size)+`'"}]}`)
		if len(res.Violations) != 1 || res.Violations[0].Message != tc.want {
			t.Errorf("a %d-byte message: got %d violations, %.40s...", tc.size, len(res.Violations), fmt.Sprint(res.Violations))
		}
	}
	res := evaluateYAML(t, `{metadata: {name: p}, spec: {variables: [{name: v, expression: "'`+strings.Repeat("v", maxValue+1)+`'"}], auditAnnotations: [{key: k, valueExpression: "variables.v"}]}}`)
	if len(res.AuditAnnotations) != 1 || res.AuditAnnotations[0].Key != "p/k" || res.AuditAnnotations[0].Value != strings.Repeat("v", maxValue) {
		t.Errorf("annotations: %d", len(res.AuditAnnotations))
	}
}

// matchCondition errors: one is reported as is, several together.
func TestMatchConditionErrorMessages(t *testing.T) {
	res := evaluateYAML(t, `spec: {matchConditions: [{name: a, expression: "object.spec.priorityClassName == 'x'"}], validations: [{expression: "true"}]}`)
	const one = "expression 'object.spec.priorityClassName == 'x'' resulted in error: no such key: priorityClassName"
	if len(res.Violations) != 1 || res.Violations[0].Message != one {
		t.Errorf("one error: %+v", res.Violations)
	}
	res = evaluateYAML(t, `spec: {matchConditions: [{name: a, expression: "object.spec.priorityClassName == 'x'"}, {name: b, expression: "object.spec.hostname == 'y'"}], validations: [{expression: "true"}]}`)
	two := "[" + one + ", expression 'object.spec.hostname == 'y'' resulted in error: no such key: hostname]"
	if len(res.Violations) != 1 || res.Violations[0].Message != two {
		t.Errorf("two errors: %+v", res.Violations)
	}
}

// After validations that ran without cost tracking, a message expression
// gets what would remain of the budget after their worst case (a lower
// bound of what is left): here nothing, since their worst case is the
// whole budget.
func TestMessageBudgetAfterUntrackedValidations(t *testing.T) {
	f := newCostFixture(t)
	falseAt1M := f.expr("1 == 2 && %s", 1_000_000, false)
	cp := f.compile(func(s *v1alpha1.VMIPolicySpec) {
		s.Validations = nil
		for range 10 {
			s.Validations = append(s.Validations, admissionregistrationv1.Validation{Expression: falseAt1M, Message: "static", MessageExpression: "object.metadata.name"})
		}
	})
	if !cp.untracked[0] {
		t.Fatal("the validations should run untracked")
	}
	res := cp.Evaluate(context.Background(), NewInputFromObjects(admissionv1.Create, decode(t, testVMI), nil, nil, nil, nil))
	if len(res.Violations) != 10 || !strings.Contains(res.Violations[0].Message, "failed messageExpression") || !strings.Contains(res.Violations[0].Message, "cost budget") {
		t.Errorf("%d violations, first %+v", len(res.Violations), res.Violations[0])
	}
}
