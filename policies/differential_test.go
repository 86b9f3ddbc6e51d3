package policies

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"
	"sigs.k8s.io/yaml"

	"github.com/podvirt/podvirt/crds/v1alpha1"
)

// libraryCase is the part of a library test case this test needs.
type libraryCase struct {
	Name      string `json:"name"`
	Object    any    `json:"object"`
	OldObject any    `json:"oldObject"`
	Namespace string `json:"namespace"`
	User      *struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
}

// TestDifferentialAgainstVAP evaluates every library policy on every
// library test object twice: with this engine, and as the
// ValidatingAdmissionPolicy ExportVAP produces, evaluated by
// kube-apiserver's own validator (k8s.io/apiserver, the code behind VAP)
// on the object decoded as kube-apiserver decodes a custom resource. The
// outcome and messages must agree.
func TestDifferentialAgainstVAP(t *testing.T) {
	files, _ := filepath.Glob("library/*/test.yaml")
	if len(files) == 0 {
		t.Fatal("no library tests")
	}
	compared := 0
	for _, file := range files {
		dir := filepath.Dir(file)
		policy := readLibraryPolicy(t, filepath.Join(dir, "policy.yaml"))
		compiled, errs := compiler(t).Compile(policy)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", dir, errs)
		}
		vap, _, err := ExportVAP(policy)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		validator := compileVAP(t, vap)

		var tf struct {
			Params     []any         `json:"params"`
			Namespaces []any         `json:"namespaces"`
			Cases      []libraryCase `json:"cases"`
		}
		raw, _ := os.ReadFile(file)
		if err := yaml.Unmarshal(raw, &tf); err != nil {
			t.Fatal(err)
		}
		var params []*Object
		for _, p := range tf.Params {
			params = append(params, decode(t, string(loadDoc(t, dir, p))))
		}
		namespaces := map[string]*corev1.Namespace{}
		for _, n := range tf.Namespaces {
			var ns corev1.Namespace
			if err := yaml.Unmarshal(loadDoc(t, dir, n), &ns); err != nil {
				t.Fatal(err)
			}
			namespaces[ns.Name] = &ns
		}
		for _, tc := range tf.Cases {
			object := decode(t, string(loadDoc(t, dir, tc.Object)))
			var oldObject *Object
			op := admissionv1.Create
			if tc.OldObject != nil {
				oldObject = decode(t, string(loadDoc(t, dir, tc.OldObject)))
				op = admissionv1.Update
			}
			nsName := tc.Namespace
			if nsName == "" {
				nsName = object.Namespace()
			}
			u := &RequestUser{Username: "tester", Groups: []string{"system:authenticated"}}
			if tc.User != nil {
				u = &RequestUser{Username: tc.User.Username, Groups: append(tc.User.Groups, "system:authenticated")}
			}
			in := NewInputFromObjects(op, object, oldObject, namespaces[nsName], u, NewStaticParams(params...))
			if !compiled.match.matches(in) {
				continue // matchConstraints are not the validator's job
			}
			ours := compiled.Evaluate(context.Background(), in)
			theirs := evaluateVAP(t, validator, compiled, op, object, oldObject, namespaces[nsName], u, params)
			if got := summarize(ours); got != theirs {
				t.Errorf("%s: %s:\n  podvirt: %s\n  VAP:     %s", dir, tc.Name, got, theirs)
			}
			compared++
		}
	}
	if compared < 20 {
		t.Errorf("only %d cases compared", compared)
	}
}

func readLibraryPolicy(t *testing.T, path string) *v1alpha1.VMIPolicy {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return policyFromYAML(t, string(raw))
}

// loadDoc returns a test file reference (path or inline object) as JSON.
func loadDoc(t *testing.T, dir string, ref any) []byte {
	t.Helper()
	if path, ok := ref.(string); ok {
		raw, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil {
			t.Fatal(err)
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	js, err := yaml.Marshal(ref)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.YAMLToJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compileVAP compiles a ValidatingAdmissionPolicy the way kube-apiserver's
// validating admission policy plugin does (validating.compilePolicy).
func compileVAP(t testing.TB, p *admissionregistrationv1.ValidatingAdmissionPolicy) validating.Validator {
	t.Helper()
	hasParam := p.Spec.ParamKind != nil
	optionalVars := plugincel.OptionalVariableDeclarations{HasParams: hasParam, HasAuthorizer: true}
	messageVars := plugincel.OptionalVariableDeclarations{HasParams: hasParam, HasAuthorizer: false}
	envSet, err := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()).Extend(environment.StrictCostOpt)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := plugincel.NewCompositedCompiler(envSet)
	if err != nil {
		t.Fatal(err)
	}
	var vars []plugincel.NamedExpressionAccessor
	for _, v := range p.Spec.Variables {
		vars = append(vars, &validating.Variable{Name: v.Name, Expression: v.Expression})
	}
	fc.CompileAndStoreVariables(vars, optionalVars, environment.StoredExpressions)
	var matcher matchconditions.Matcher
	if len(p.Spec.MatchConditions) > 0 {
		var acc []plugincel.ExpressionAccessor
		for i := range p.Spec.MatchConditions {
			acc = append(acc, (*matchconditions.MatchCondition)(&p.Spec.MatchConditions[i]))
		}
		matcher = matchconditions.NewMatcher(fc.CompileCondition(acc, optionalVars, environment.StoredExpressions), p.Spec.FailurePolicy, "policy", "validate", p.Name)
	}
	var validations, messages, annotations []plugincel.ExpressionAccessor
	for _, v := range p.Spec.Validations {
		validations = append(validations, &validating.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason})
		if v.MessageExpression != "" {
			messages = append(messages, &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression})
		} else {
			messages = append(messages, nil)
		}
	}
	for _, a := range p.Spec.AuditAnnotations {
		annotations = append(annotations, &validating.AuditAnnotationCondition{Key: a.Key, ValueExpression: a.ValueExpression})
	}
	return validating.NewValidator(
		fc.CompileCondition(validations, optionalVars, environment.StoredExpressions),
		matcher,
		fc.CompileCondition(annotations, optionalVars, environment.StoredExpressions),
		fc.CompileCondition(messages, messageVars, environment.StoredExpressions),
		p.Spec.FailurePolicy, nil)
}

// evaluateVAP runs kube-apiserver's validator and summarizes its decision.
func evaluateVAP(t *testing.T, v validating.Validator, p *CompiledPolicy, op admissionv1.Operation, object, oldObject *Object, ns *corev1.Namespace, u *RequestUser, params []*Object) string {
	t.Helper()
	gvk := schema.GroupVersionKind{Group: "podvirt.io", Version: "v1alpha1", Kind: "VirtualMachineInstance"}
	gvr := schema.GroupVersionResource{Group: "podvirt.io", Version: "v1alpha1", Resource: "virtualmachineinstances"}
	toUnstructured := func(o *Object) runtime.Object {
		if o == nil {
			return nil
		}
		return &unstructured.Unstructured{Object: o.Native().(map[string]any)}
	}
	obj, old := toUnstructured(object), toUnstructured(oldObject)
	attrs := admission.NewAttributesRecord(obj, old, gvk, object.Namespace(), object.Name(), gvr, "", admission.Operation(op), nil, false,
		&user.DefaultInfo{Name: u.Username, Groups: u.Groups})
	va := &admission.VersionedAttributes{Attributes: attrs, VersionedKind: gvk, VersionedObject: admission.NewLazyObject(obj)}
	if old != nil {
		va.VersionedOldObject = admission.NewLazyObject(old)
	}

	paramObjects := []runtime.Object{nil}
	if p.paramRef != nil {
		found, err := NewStaticParams(params...).Params(context.Background(), *p.paramKind, p.paramRef.Namespace, p.paramRef.Name, p.paramSelector)
		if err != nil {
			t.Fatal(err)
		}
		paramObjects = nil
		for _, f := range found {
			paramObjects = append(paramObjects, toUnstructured(f))
		}
		if len(found) == 0 {
			return "error [no params found for policy binding with `Deny` parameterNotFoundAction]"
		}
	}
	outcome := Skipped
	var messages []string
	for _, param := range paramObjects {
		res := v.Validate(context.Background(), gvr, va, param, ns, celconfig.RuntimeCELCostBudget, nil)
		if len(res.Decisions) > 0 && outcome == Skipped {
			outcome = Passed
		}
		for _, d := range res.Decisions {
			switch {
			case d.Evaluation == validating.EvalError && d.Action == validating.ActionDeny:
				outcome = Errored
				messages = append(messages, d.Message)
			case d.Evaluation == validating.EvalDeny && outcome != Errored:
				outcome = Failed
				messages = append(messages, d.Message)
			case d.Evaluation == validating.EvalDeny:
				messages = append(messages, d.Message)
			}
		}
		for _, a := range res.AuditAnnotations {
			if a.Action == validating.AuditAnnotationActionError {
				outcome = Errored
				messages = append(messages, a.Error)
			}
		}
		if len(res.Decisions) == 0 && len(p.validations) == 0 {
			outcome = Passed
		}
	}
	return fmt.Sprintf("%s %q", outcome, messages)
}

func summarize(r PolicyResult) string {
	var messages []string
	for _, v := range r.Violations {
		messages = append(messages, v.Message)
	}
	if r.Outcome == Errored && len(messages) == 1 && strings.HasPrefix(messages[0], "failed to configure binding: ") {
		messages[0] = strings.TrimPrefix(messages[0], "failed to configure binding: ")
	}
	return fmt.Sprintf("%s %q", r.Outcome, messages)
}

func libraryPolicies(t *testing.T) []*v1alpha1.VMIPolicy {
	t.Helper()
	files, _ := filepath.Glob("library/*/policy.yaml")
	var out []*v1alpha1.VMIPolicy
	for _, f := range files {
		out = append(out, readLibraryPolicy(t, f))
	}
	return out
}
