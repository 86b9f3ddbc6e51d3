package policies

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestSubstituteIdent(t *testing.T) {
	cases := []struct{ in, want string }{
		{`params.max`, `(P).max`},
		{`object.params + params.x`, `object.params + (P).x`},
		{`'params' + "params" + r'params' + '''params'''`, `'params' + "params" + r'params' + '''params'''`},
		{`size(params) // params`, `size((P)) // params`},
		{`has(params.a) && paramsX == params_`, `has((P).a) && paramsX == params_`},
		{`'it\'s params' == params`, `'it\'s params' == (P)`},
	}
	for _, tc := range cases {
		got, err := substituteIdent(tc.in, "params", "(P)")
		if err != nil || got != tc.want {
			t.Errorf("substituteIdent(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := substituteIdent(`[1].all(params, params > 0)`, "params", "(P)"); err == nil {
		t.Error("a comprehension variable named params must be refused")
	}
}

func TestCELLiteral(t *testing.T) {
	obj := decode(t, `{"s":"a\"b","i":1,"f":2.0,"g":1.5e300,"b":true,"n":null,"l":["x","y"],"mixed":[1,"a"],"o":{"k":[]}}`)
	// The object's members differ in type, so they are wrapped in dyn().
	want := `{"s": dyn("a\"b"), "i": dyn(1), "f": dyn(2.0), "g": dyn(1.5e+300), "b": dyn(true), "n": dyn(null), "l": dyn(["x", "y"]), "mixed": dyn([dyn(1), dyn("a")]), "o": dyn({"k": dyn([])})}`
	if got := celLiteral(obj.root); got != want {
		t.Errorf("celLiteral:\n got %s\nwant %s", got, want)
	}
}

// TestExportedVAPCompiles checks that every library policy exports to a
// ValidatingAdmissionPolicy whose expressions compile in kube-apiserver's
// environment (the differential test then checks they behave the same).
func TestExportedVAPCompiles(t *testing.T) {
	for _, p := range libraryPolicies(t) {
		vap, binding, err := ExportVAP(p)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if binding.Spec.PolicyName != vap.Name || len(binding.Spec.ValidationActions) == 0 {
			t.Errorf("%s: binding %+v", p.Name, binding.Spec)
		}
		if (p.Spec.Params != nil) && vap.Spec.ParamKind != nil {
			t.Errorf("%s: inline params must not need a paramKind", p.Name)
		}
		_ = compileVAP(t, vap) // compile errors surface as validator errors in the differential test
	}
}

func TestSubstituteIdentLexing(t *testing.T) {
	cases := []struct{ in, want string }{
		// Comments run to the end of the line, or of the expression.
		{"x // params", "x // params"},
		{"x // params\n|| params", "x // params\n|| (P)"},
		// A single slash is division.
		{"a/params", "a/(P)"},
		// Quotes inside triple-quoted strings, escapes, unterminated strings.
		{`'''it's params''' + params`, `'''it's params''' + (P)`},
		{`"""a"params""" + params`, `"""a"params""" + (P)`},
		{`'a\\' + params`, `'a\\' + (P)`},
		{`"a\"params" + params`, `"a\"params" + (P)`},
		{`'params`, `'params`},
		{` + params + """""" + params`, ` + (P) + """""" + (P)`},
		{`'''params`, `'''params`},
		{`'''params'`, `'''params'`},
		// String prefixes, in either case; other words before a quote are identifiers.
		{`R'params' + b"params" + rb'params' + BR"params" + br'''params''' + params`, `R'params' + b"params" + rb'params' + BR"params" + br'''params''' + (P)`},
		{`params'x'`, `(P)'x'`},
		// Field names, even after spaces, and other identifiers stay.
		{"x. params + x.\n\tparams + params.params", "x. params + x.\n\tparams + (P).params"},
		{`params2 + _params + Params + params_ + xparams`, `params2 + _params + Params + params_ + xparams`},
		{`zparams + Zparams + Aparams + aparams + params0 + params9 + params_z + paramsZ`, `zparams + Zparams + Aparams + aparams + params0 + params9 + params_z + paramsZ`},
		{`params+params-params`, `(P)+(P)-(P)`},
		{`[params, params]`, `[(P), (P)]`},
		{`f(x, params)`, `f(x, (P))`},
		{"(params)", "((P))"},
		{"", ""},
	}
	for _, tc := range cases {
		got, err := substituteIdent(tc.in, "params", "(P)")
		if err != nil || got != tc.want {
			t.Errorf("substituteIdent(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, expr := range []string{"[1].all( params , params > 0)", "[1].exists(params,\n true)", "m.map(params, 1)"} {
		if _, err := substituteIdent(expr, "params", "(P)"); err == nil {
			t.Errorf("%q binds params, want an error", expr)
		}
	}
}

func TestCELLiteralShapes(t *testing.T) {
	cases := []struct{ json, want string }{
		{`[1,2]`, `[1, 2]`},
		{`[true,false]`, `[true, false]`},
		{`["a","b"]`, `["a", "b"]`},
		{`[1.5,2.0,1e21,-0.5,1e-7]`, `[1.5, 2.0, 1e+21, -0.5, 1e-07]`},
		{`[1,1.5]`, `[dyn(1), dyn(1.5)]`},
		{`[null]`, `[dyn(null)]`},
		{`[[1]]`, `[dyn([1])]`},
		{`[{"a":1}]`, `[dyn({"a": 1})]`},
		{`[]`, `[]`},
		{`{}`, `{}`},
		{`{"a":"x","b":"y"}`, `{"a": "x", "b": "y"}`},
		{`{"a\"b":"é\n"}`, `{"a\"b": "é\n"}`},
		{`-3`, `-3`},
		{`null`, `null`},
		{`false`, `false`},
	}
	for _, tc := range cases {
		if got := celLiteral(decode(t, tc.json).root); got != tc.want {
			t.Errorf("celLiteral(%s) = %s, want %s", tc.json, got, tc.want)
		}
	}
}

func TestExportVAPFields(t *testing.T) {
	p := policyFromYAML(t, `
metadata: {name: p, labels: {team: a}}
spec:
  failurePolicy: Ignore
  validationActions: [Warn, Audit]
  params: {max: 4}
  matchConstraints:
    operations: [UPDATE]
    namespaceSelector: {matchLabels: {env: prod}}
    objectSelector: {matchLabels: {app: web}}
  matchConditions: [{name: m, expression: "params.max > 0"}]
  variables: [{name: v, expression: "params.max"}]
  validations: [{expression: "variables.v <= params.max", messageExpression: "string(params.max)"}]
  auditAnnotations: [{key: k, valueExpression: "string(params.max)"}]
`)
	original := p.DeepCopy()
	vap, binding, err := ExportVAP(p)
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(p, original) {
		t.Error("ExportVAP changed the policy")
	}
	s := vap.Spec
	lit := `({"max": 4})`
	if vap.Name != "p" || vap.Labels["team"] != "a" || *s.FailurePolicy != admissionregistrationv1.Ignore ||
		fmt.Sprint(s.MatchConstraints.ResourceRules[0].Operations) != "[UPDATE]" ||
		s.MatchConstraints.NamespaceSelector.MatchLabels["env"] != "prod" || s.MatchConstraints.ObjectSelector.MatchLabels["app"] != "web" ||
		s.MatchConditions[0].Expression != lit+".max > 0" || s.Variables[0].Expression != lit+".max" ||
		s.Validations[0].Expression != "variables.v <= "+lit+".max" || s.Validations[0].MessageExpression != "string("+lit+".max)" ||
		s.AuditAnnotations[0].ValueExpression != "string("+lit+".max)" || s.ParamKind != nil {
		t.Errorf("policy %+v", s)
	}
	if binding.Name != "p" || binding.Labels["team"] != "a" || binding.Spec.PolicyName != "p" || fmt.Sprint(binding.Spec.ValidationActions) != "[Warn Audit]" || binding.Spec.ParamRef != nil {
		t.Errorf("binding %+v", binding.Spec)
	}

	// Defaults: CREATE and UPDATE, every namespace and object, Fail, Deny.
	vap, binding, err = ExportVAP(policyFromYAML(t, `{metadata: {name: d}, spec: {paramKind: {apiVersion: v1, kind: ConfigMap}, paramRef: {name: cm, parameterNotFoundAction: Deny}, matchConstraints: {}, validations: [{expression: "params.data.x == 'y'"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	s = vap.Spec
	if fmt.Sprint(s.MatchConstraints.ResourceRules[0].Operations) != "[CREATE UPDATE]" || !reflect.DeepEqual(*s.MatchConstraints.NamespaceSelector, metav1.LabelSelector{}) ||
		!reflect.DeepEqual(*s.MatchConstraints.ObjectSelector, metav1.LabelSelector{}) || *s.FailurePolicy != admissionregistrationv1.Fail ||
		s.ParamKind == nil || s.ParamKind.Kind != "ConfigMap" || s.Validations[0].Expression != "params.data.x == 'y'" {
		t.Errorf("defaults %+v", s)
	}
	if fmt.Sprint(binding.Spec.ValidationActions) != "[Deny]" || binding.Spec.ParamRef == nil || binding.Spec.ParamRef.Name != "cm" {
		t.Errorf("binding %+v", binding.Spec)
	}

	// Inline params that cannot be substituted, by field.
	for field, spec := range map[string]string{
		"spec.params":                           `params: {a: 1}, validations: [{expression: "true"}]`,
		"spec.matchConditions[0]":               `params: {a: 1}, matchConditions: [{name: m, expression: "[1].all(params, true)"}], validations: [{expression: "true"}]`,
		"spec.variables[0]":                     `params: {a: 1}, variables: [{name: v, expression: "[1].all(params, true)"}], validations: [{expression: "true"}]`,
		"spec.validations[0].expression":        `params: {a: 1}, validations: [{expression: "[1].all(params, true)"}]`,
		"spec.validations[0].messageExpression": `params: {a: 1}, validations: [{expression: "true", messageExpression: "[1].map(params, 'x')[0]"}]`,
		"spec.auditAnnotations[0]":              `params: {a: 1}, auditAnnotations: [{key: k, valueExpression: "[1].map(params, 'x')[0]"}]`,
	} {
		p := policyFromYAML(t, `{metadata: {name: e}, spec: {`+spec+`}}`)
		if field == "spec.params" {
			p.Spec.Params.Raw = []byte(`{"a":`)
		}
		_, _, err := ExportVAP(p)
		if err == nil || !strings.HasPrefix(err.Error(), "policy e: "+field+": ") {
			t.Errorf("%s: error %v", field, err)
		}
	}
}

// An empty params extension is no params: nothing to substitute.
func TestExportVAPEmptyParams(t *testing.T) {
	p := policyFromYAML(t, `{metadata: {name: e}, spec: {validations: [{expression: "params == null"}]}}`)
	p.Spec.Params = &runtime.RawExtension{}
	vap, _, err := ExportVAP(p)
	if err != nil || vap.Spec.Validations[0].Expression != "params == null" {
		t.Errorf("%v, %+v", err, vap)
	}
}
