package policies

import (
	"context"
	"fmt"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
