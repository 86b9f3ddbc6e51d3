package policies

import (
	"context"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const testVMI = `{"apiVersion":"podvirt.io/v1alpha1","kind":"VirtualMachineInstance",
 "metadata":{"name":"vm","namespace":"prod","labels":{"app":"web"}},
 "spec":{"domain":{"cpu":{"cores":4},"memory":{"guest":"2Gi"}},
  "volumes":[{"name":"root","containerDisk":{"image":"registry.example.com/a"}}]}}`

func decode(tb testing.TB, doc string) *Object {
	tb.Helper()
	o, err := DecodeObject([]byte(doc))
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

// TestEvaluateSemantics is a table of what ValidatingAdmissionPolicy
// semantics say for each situation: failurePolicy on runtime errors,
// matchConditions (false wins over errors), messages and their fallbacks,
// validation actions, params, variables, audit annotations, namespaceObject.
func TestEvaluateSemantics(t *testing.T) {
	prod := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{"env": "prod"}}}
	cases := []struct {
		name, policy string
		op           admissionv1.Operation
		outcome      Outcome
		denied       bool
		messages     []string
		warnings     []string
		annotations  []string
	}{
		{name: "pass", policy: `spec: {validations: [{expression: "object.spec.domain.cpu.cores <= 4"}]}`, outcome: Passed},
		{name: "fail uses message", policy: `spec: {validations: [{expression: "object.spec.domain.cpu.cores < 4", message: " too many cores "}]}`,
			outcome: Failed, denied: true, messages: []string{"too many cores"}},
		{name: "fail without message quotes the expression", policy: `spec: {validations: [{expression: "object.spec.domain.cpu.cores < 4"}]}`,
			outcome: Failed, denied: true, messages: []string{"failed expression: object.spec.domain.cpu.cores < 4"}},
		{name: "messageExpression wins", policy: `spec: {validations: [{expression: "false", message: "static", messageExpression: "'cores: ' + string(object.spec.domain.cpu.cores)"}]}`,
			outcome: Failed, denied: true, messages: []string{"cores: 4"}},
		{name: "blank messageExpression falls back", policy: `spec: {validations: [{expression: "false", message: "static", messageExpression: "'  '"}]}`,
			outcome: Failed, denied: true, messages: []string{"static"}},
		{name: "multi-line messageExpression falls back", policy: `spec: {validations: [{expression: "false", message: "static", messageExpression: "'a\\nb'"}]}`,
			outcome: Failed, denied: true, messages: []string{"static"}},
		{name: "failing messageExpression falls back", policy: `spec: {validations: [{expression: "false", message: "static", messageExpression: "object.spec.priorityClassName"}]}`,
			outcome: Failed, denied: true, messages: []string{"static"}},
		{name: "runtime error with Fail denies", policy: `spec: {validations: [{expression: "object.spec.priorityClassName == 'x'"}]}`,
			outcome: Errored, denied: true, messages: []string{"expression 'object.spec.priorityClassName == 'x'' resulted in error: no such key: priorityClassName"}},
		{name: "runtime error with Ignore passes", policy: `spec: {failurePolicy: Ignore, validations: [{expression: "object.spec.priorityClassName == 'x'"}]}`,
			outcome: Passed},
		{name: "Warn does not deny", policy: `spec: {validationActions: [Warn], validations: [{expression: "false", message: "m"}]}`,
			outcome: Failed, messages: []string{"m"}, warnings: []string{"Validation failed for VMIPolicy 'test': m"}},
		{name: "Audit only", policy: `spec: {validationActions: [Audit], validations: [{expression: "false", message: "m"}]}`,
			outcome: Failed, messages: []string{"m"}},
		{name: "matchCondition false skips", policy: `spec: {matchConditions: [{name: a, expression: "false"}], validations: [{expression: "false"}]}`,
			outcome: Skipped},
		{name: "matchCondition false wins over an error", policy: `spec: {matchConditions: [{name: a, expression: "object.spec.priorityClassName == 'x'"}, {name: b, expression: "false"}], validations: [{expression: "false"}]}`,
			outcome: Skipped},
		{name: "matchCondition error with Fail denies", policy: `spec: {matchConditions: [{name: a, expression: "object.spec.priorityClassName == 'x'"}], validations: [{expression: "true"}]}`,
			outcome: Errored, denied: true, messages: []string{"no such key: priorityClassName"}},
		{name: "matchCondition error with Ignore skips", policy: `spec: {failurePolicy: Ignore, matchConditions: [{name: a, expression: "object.spec.priorityClassName == 'x'"}], validations: [{expression: "false"}]}`,
			outcome: Skipped},
		{name: "matchConditions see no namespaceObject", policy: `spec: {matchConditions: [{name: a, expression: "namespaceObject == null"}], validations: [{expression: "namespaceObject.metadata.name == 'prod'"}]}`,
			outcome: Passed},
		{name: "operations", policy: `spec: {matchConstraints: {operations: [UPDATE]}, validations: [{expression: "false"}]}`, outcome: Skipped},
		{name: "namespaceSelector", policy: `spec: {matchConstraints: {namespaceSelector: {matchLabels: {env: dev}}}, validations: [{expression: "false"}]}`, outcome: Skipped},
		{name: "objectSelector", policy: `spec: {matchConstraints: {objectSelector: {matchLabels: {app: web}}}, validations: [{expression: "false"}]}`,
			outcome: Failed, denied: true},
		{name: "inline params", policy: `spec: {params: {max: 2}, validations: [{expression: "object.spec.domain.cpu.cores <= params.max", messageExpression: "'max ' + string(params.max)"}]}`,
			outcome: Failed, denied: true, messages: []string{"max 2"}},
		{name: "variables are lazy", policy: `
spec:
  variables: [{name: boom, expression: "object.spec.priorityClassName"}, {name: cores, expression: "object.spec.domain.cpu.cores"}]
  validations: [{expression: "variables.cores == 4"}]`, outcome: Passed},
		{name: "variable error", policy: `
spec:
  variables: [{name: boom, expression: "object.spec.priorityClassName"}]
  validations: [{expression: "variables.boom == 'x'"}]`, outcome: Errored, denied: true, messages: []string{`composited variable "boom" fails to evaluate: no such key: priorityClassName`}},
		{name: "audit annotation", policy: `spec: {auditAnnotations: [{key: cores, valueExpression: "string(object.spec.domain.cpu.cores)"}, {key: none, valueExpression: "null"}, {key: blank, valueExpression: "' '"}]}`,
			outcome: Passed, annotations: []string{"test/cores=4"}},
		{name: "audit annotation error denies under Fail", policy: `spec: {auditAnnotations: [{key: k, valueExpression: "object.spec.priorityClassName"}]}`,
			outcome: Errored, denied: true, messages: []string{"no such key: priorityClassName"}},
		{name: "request", policy: `spec: {validations: [{expression: "request.operation == 'CREATE' && request.userInfo.username == 'alice' && request.namespace == 'prod' && request.kind.kind == 'VirtualMachineInstance'"}]}`,
			outcome: Passed},
		{name: "oldObject is null on create", policy: `spec: {validations: [{expression: "oldObject == null"}]}`, outcome: Passed},
		{name: "quantity library", policy: `spec: {validations: [{expression: "quantity(object.spec.domain.memory.guest).isLessThan(quantity('4Gi'))"}]}`, outcome: Passed},
		{name: "regex, ip, cidr, url, format libraries", policy: `spec: {validations: [{expression: "object.metadata.name.matches('^v') && ip('10.0.0.1').family() == 4 && cidr('10.0.0.0/8').containsIP('10.1.2.3') && url('https://x.io/p').getHost() == 'x.io' && format.dns1123Label().validate(object.metadata.name) == optional.none()"}]}`,
			outcome: Passed},
	}
	obj := decode(t, testVMI)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cp, errs := compiler(t).Compile(policyFromYAML(t, tc.policy))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			op := tc.op
			if op == "" {
				op = admissionv1.Create
			}
			in := NewInputFromObjects(op, obj, nil, prod, &RequestUser{Username: "alice", Groups: []string{"system:authenticated"}}, nil)
			for _, track := range []bool{false, true} {
				if track {
					cp.untracked = [len(sizeTiers)]bool{}
				}
				res := cp.Evaluate(context.Background(), in)
				if res.Outcome != tc.outcome || res.Denied() != tc.denied {
					t.Fatalf("tracked=%v: outcome %s denied %v, want %s %v: %+v", track, res.Outcome, res.Denied(), tc.outcome, tc.denied, res)
				}
				var messages []string
				for _, v := range res.Violations {
					messages = append(messages, v.Message)
				}
				for _, want := range tc.messages {
					if !containsSubstring(messages, want) {
						t.Errorf("tracked=%v: messages %q lack %q", track, messages, want)
					}
				}
				if strings.Join(res.Warnings, "|") != strings.Join(tc.warnings, "|") {
					t.Errorf("tracked=%v: warnings %q, want %q", track, res.Warnings, tc.warnings)
				}
				var annotations []string
				for _, a := range res.AuditAnnotations {
					annotations = append(annotations, a.Key+"="+a.Value)
				}
				if strings.Join(annotations, "|") != strings.Join(tc.annotations, "|") {
					t.Errorf("tracked=%v: annotations %q, want %q", track, annotations, tc.annotations)
				}
			}
		})
	}
}

func containsSubstring(list []string, want string) bool {
	for _, s := range list {
		if strings.Contains(s, want) {
			return true
		}
	}
	return false
}

func TestParamRef(t *testing.T) {
	policy := `
spec:
  paramKind: {apiVersion: v1, kind: ConfigMap}
  paramRef: {%s, parameterNotFoundAction: %s}
  validations: [{expression: "object.spec.domain.cpu.cores <= int(params.data.max)", messageExpression: "string(params.metadata.name)"}]`
	small := decode(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"small","namespace":"prod","labels":{"tier":"a"}},"data":{"max":"2"}}`)
	large := decode(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"large","namespace":"prod","labels":{"tier":"a"}},"data":{"max":"8"}}`)
	other := decode(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"small","namespace":"dev"},"data":{"max":"100"}}`)
	params := NewStaticParams(small, large, other)
	cases := []struct {
		ref, action string
		outcome     Outcome
		messages    []string
	}{
		{"name: large", "Deny", Passed, nil},
		{"name: small", "Deny", Failed, []string{"small"}},
		{"name: missing", "Deny", Errored, []string{"no params found for policy binding with `Deny` parameterNotFoundAction"}},
		{"name: missing", "Allow", Skipped, nil},
		{"selector: {matchLabels: {tier: a}}", "Deny", Failed, []string{"small"}},
		{"name: small, namespace: dev", "Deny", Passed, nil},
	}
	obj := decode(t, testVMI)
	for _, tc := range cases {
		p := policyFromYAML(t, strings.Replace(strings.Replace(policy, "%s", tc.ref, 1), "%s", tc.action, 1))
		cp, errs := compiler(t).Compile(p)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		res := cp.Evaluate(context.Background(), NewInputFromObjects(admissionv1.Create, obj, nil, nil, nil, params))
		if res.Outcome != tc.outcome {
			t.Errorf("%s/%s: outcome %s, want %s: %+v", tc.ref, tc.action, res.Outcome, tc.outcome, res)
		}
		for _, want := range tc.messages {
			if len(res.Violations) == 0 || !strings.Contains(res.Violations[0].Message, want) {
				t.Errorf("%s/%s: %+v lacks %q", tc.ref, tc.action, res.Violations, want)
			}
		}
	}
}

func TestCostLimitIsARuntimeErrorUnderFailurePolicy(t *testing.T) {
	// 1000 x 1000 iterations exceed the per-expression limit.
	p := policyFromYAML(t, `spec: {validations: [{expression: "lists.range(1000).all(i, lists.range(1000).all(j, i + j >= 0))"}]}`)
	cp, errs := compiler(t).Compile(p)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	res := cp.Evaluate(context.Background(), NewInputFromObjects(admissionv1.Create, decode(t, testVMI), nil, nil, nil, nil))
	if res.Outcome != Errored || !res.Denied() || !strings.Contains(res.Violations[0].Message, "cost limit exceeded") {
		t.Errorf("got %+v", res)
	}
}

func TestDecide(t *testing.T) {
	set := NewPolicySet(nil)
	v := set.Decide([]PolicyResult{
		{Policy: "a", Outcome: Failed, Warnings: []string{"w"}, Violations: []Violation{{Validation: 0, Message: "warned", Warns: true}}},
		{Policy: "b", Outcome: Failed, Violations: []Violation{{Validation: 1, Message: "no", Reason: metav1.StatusReasonForbidden, Denies: true, Audits: true}}},
		{Policy: "c", Outcome: Passed, AuditAnnotations: []AuditAnnotation{{Key: "c/k", Value: "v"}}},
	})
	if v.Allowed || v.Message != "VMIPolicy 'b' denied request: no" || v.Code != 403 || v.Reason != metav1.StatusReasonForbidden {
		t.Errorf("verdict %+v", v)
	}
	if len(v.Warnings) != 1 || v.AuditAnnotations["c/k"] != "v" || !strings.Contains(v.AuditAnnotations[ValidationFailureAnnotation], `"policy":"b"`) {
		t.Errorf("verdict %+v", v)
	}
}

func TestCacheCompilesOncePerGeneration(t *testing.T) {
	cache := NewCache(compiler(t))
	p := policyFromYAML(t, `spec: {validations: [{expression: "true"}]}`)
	p.UID, p.Generation = "u1", 1
	first, _ := cache.Upsert(p)
	again, _ := cache.Upsert(p.DeepCopy())
	if first != again {
		t.Error("same generation was compiled again")
	}
	set := cache.Set()
	if cache.Set() != set || len(set.Policies()) != 1 {
		t.Error("Set should be cached until a change")
	}
	p.Generation = 2
	p.Spec.Validations[0].Expression = "object.spec.domian"
	second, errs := cache.Upsert(p)
	if second == first || len(errs) != 1 || cache.Set() == set {
		t.Errorf("new generation not compiled: %v", errs)
	}
	cache.Delete("u1")
	if len(cache.Set().Policies()) != 0 {
		t.Error("delete")
	}
}

// The cache keeps the newest generation of a policy, and recompiles a
// policy whose name changed even at the same generation (offline sources
// such as podvirtctl have neither UIDs nor generations).
func TestCacheKeepsTheNewestPolicy(t *testing.T) {
	cache := NewCache(compiler(t))
	p := policyFromYAML(t, `spec: {validations: [{expression: "true"}]}`)
	p.Name, p.UID, p.Generation = "a", "u1", 2
	cache.Upsert(p)
	older := p.DeepCopy()
	older.Generation = 1
	if got, _ := cache.Upsert(older); got.Generation != 2 || cache.Set().Policy("a").Generation != 2 {
		t.Errorf("an older generation replaced the newer one: got generation %d", got.Generation)
	}
	renamed := p.DeepCopy()
	renamed.Name = "b"
	if got, _ := cache.Upsert(renamed); got.Name != "b" {
		t.Errorf("Upsert of a renamed policy returned %q", got.Name)
	}
	if set := cache.Set(); set.Policy("b") == nil || set.Policy("a") != nil {
		t.Errorf("the set holds %d policies, b: %v, a: %v", len(set.Policies()), set.Policy("b") != nil, set.Policy("a") != nil)
	}
}
