package policies

import (
	"testing"
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
