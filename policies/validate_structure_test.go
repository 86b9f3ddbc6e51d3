package policies

import (
	"fmt"
	"strings"
	"testing"
)

// TestStructureErrors lists, for policies broken in one way each, the
// errors ValidatingAdmissionPolicy validation reports, as "type field".
func TestStructureErrors(t *testing.T) {
	long := "'" + strings.Repeat("x", 5*1024-2) + "'"
	cases := []struct {
		name, policy string
		want         []string
	}{
		{"blank matchCondition", `spec: {matchConditions: [{name: a, expression: " "}], validations: [{expression: "true"}]}`,
			[]string{"FieldValueRequired spec.matchConditions[0].expression"}},
		{"unnamed matchCondition", `spec: {matchConditions: [{name: "", expression: "true"}], validations: [{expression: "true"}]}`,
			[]string{"FieldValueRequired spec.matchConditions[0].name"}},
		{"matchCondition names", `spec: {matchConditions: [{name: "a b", expression: "true"}, {name: x, expression: "true"}, {name: x, expression: "true"}, {name: "example.com/ok", expression: "true"}], validations: [{expression: "true"}]}`,
			[]string{"FieldValueInvalid spec.matchConditions[0].name", "FieldValueDuplicate spec.matchConditions[2].name"}},
		{"variables", `spec: {variables: [{name: " ", expression: "1"}, {name: "1a", expression: "1"}, {name: a, expression: ""}, {name: a, expression: "1"}, {name: _b9, expression: "1"}, {name: "é", expression: "1"}, {name: "while", expression: "1"}], validations: [{expression: "true"}]}`,
			[]string{"FieldValueRequired spec.variables[0].name", "FieldValueInvalid spec.variables[1].name", "FieldValueRequired spec.variables[2].expression",
				"FieldValueDuplicate spec.variables[3].name", "FieldValueInvalid spec.variables[5].name", "FieldValueInvalid spec.variables[6].name"}},
		{"CEL identifiers", `spec: {variables: [{name: zZ09, expression: "1"}, {name: A, expression: "1"}, {name: Z_, expression: "1"}, {name: a0, expression: "1"}, {name: x9, expression: "1"}, {name: _, expression: "1"}, {name: truex, expression: "1"}], validations: [{expression: "true"}]}`, nil},
		{"not CEL identifiers", `spec: {variables: [{name: "a-b", expression: "1"}, {name: "a{", expression: "1"}, {name: "a@", expression: "1"}, {name: "a[", expression: "1"}, {name: "a/", expression: "1"}, {name: "a:", expression: "1"}, {name: "` + "`" + `a", expression: "1"}, {name: "9", expression: "1"}, {name: "null", expression: "1"}, {name: "in", expression: "1"}], validations: [{expression: "true"}]}`,
			[]string{"FieldValueInvalid spec.variables[0].name", "FieldValueInvalid spec.variables[1].name", "FieldValueInvalid spec.variables[2].name", "FieldValueInvalid spec.variables[3].name",
				"FieldValueInvalid spec.variables[4].name", "FieldValueInvalid spec.variables[5].name", "FieldValueInvalid spec.variables[6].name", "FieldValueInvalid spec.variables[7].name",
				"FieldValueInvalid spec.variables[8].name", "FieldValueInvalid spec.variables[9].name"}},
		{"validations", `spec: {validations: [{expression: " "}, {expression: "true", messageExpression: " "}, {expression: "true", message: " "}, {expression: "true", message: " fine ", messageExpression: "'ok'", reason: Forbidden}, {expression: "true", reason: RequestEntityTooLarge}]}`,
			[]string{"FieldValueRequired spec.validations[0].expression", "FieldValueInvalid spec.validations[1].messageExpression", "FieldValueInvalid spec.validations[2].message"}},
		{"audit annotations", `{metadata: {name: p}, spec: {auditAnnotations: [{key: "a b", valueExpression: "'x'"}, {key: k, valueExpression: " "}, {key: k, valueExpression: "'x'"}, {key: l, valueExpression: "` + long + ` + 'x'"}, {key: m, valueExpression: "` + long + `"}]}}`,
			[]string{"FieldValueInvalid spec.auditAnnotations[0].key", "FieldValueRequired spec.auditAnnotations[1].valueExpression",
				"FieldValueDuplicate spec.auditAnnotations[2].key", "FieldValueRequired spec.auditAnnotations[3].valueExpression"}},
		{"audit annotations need a policy name", `{metadata: {name: ""}, spec: {auditAnnotations: [{key: k, valueExpression: "'x'"}]}}`,
			[]string{"FieldValueInvalid spec.auditAnnotations[0].key"}},
		{"failure policy", `spec: {failurePolicy: Retry, validations: [{expression: "true"}]}`,
			[]string{"FieldValueNotSupported spec.failurePolicy"}},
		{"failure policy Ignore", `spec: {failurePolicy: Ignore, validations: [{expression: "true"}]}`, nil},
		{"validation actions", `spec: {validationActions: [Audit, Block, Audit, Warn], validations: [{expression: "true"}]}`,
			[]string{"FieldValueNotSupported spec.validationActions[1]", "FieldValueDuplicate spec.validationActions[2]"}},
		{"Deny and Audit", `spec: {validationActions: [Deny, Audit], validations: [{expression: "true"}]}`, nil},
		{"paramKind fields", `spec: {paramKind: {}, paramRef: {name: x, parameterNotFoundAction: Allow}, validations: [{expression: "true"}]}`,
			[]string{"FieldValueRequired spec.paramKind.kind", "FieldValueRequired spec.paramKind.apiVersion"}},
		{"paramRef name and selector", `spec: {paramKind: {apiVersion: v1, kind: ConfigMap}, paramRef: {name: x, selector: {}, parameterNotFoundAction: Deny}, validations: [{expression: "true"}]}`,
			[]string{"FieldValueForbidden spec.paramRef.name"}},
		{"paramRef neither", `spec: {paramKind: {apiVersion: v1, kind: ConfigMap}, paramRef: {parameterNotFoundAction: Deny}, validations: [{expression: "true"}]}`,
			[]string{"FieldValueRequired spec.paramRef"}},
		{"paramRef selector and action", `spec: {paramKind: {apiVersion: v1, kind: ConfigMap}, paramRef: {selector: {matchLabels: {"a b": x}}, parameterNotFoundAction: Skip}, validations: [{expression: "true"}]}`,
			[]string{"FieldValueInvalid spec.paramRef.selector.matchLabels", "FieldValueNotSupported spec.paramRef.parameterNotFoundAction", "FieldValueInvalid spec.paramRef.selector"}},
		{"paramKind without paramRef", `spec: {paramKind: {apiVersion: v1, kind: ConfigMap}, validations: [{expression: "true"}]}`,
			[]string{"FieldValueRequired spec.paramKind"}},
		{"matchConstraints", `spec: {matchConstraints: {operations: [CREATE, DELETE, "*", UPDATE], namespaceSelector: {matchLabels: {"a b": x}}, objectSelector: {matchExpressions: [{key: k, operator: Bad}]}}, validations: [{expression: "true"}]}`,
			[]string{"FieldValueNotSupported spec.matchConstraints.operations[1]", "FieldValueInvalid spec.matchConstraints.namespaceSelector.matchLabels",
				"FieldValueInvalid spec.matchConstraints.objectSelector.matchExpressions[0].operator", "FieldValueInvalid spec.matchConstraints"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := policyFromYAML(t, tc.policy)
			if strings.Contains(tc.policy, `name: ""}`) {
				p.Name = ""
			}
			_, errs := compiler(t).Compile(p)
			var got []string
			for _, e := range errs {
				got = append(got, fmt.Sprintf("%s %s", string(e.Type), e.Field))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s\n(%v)", strings.Join(got, "\n"), strings.Join(tc.want, "\n"), errs)
			}
		})
	}
}

// At most 64 matchConditions.
func TestMatchConditionsLimit(t *testing.T) {
	p := policyFromYAML(t, `spec: {validations: [{expression: "true"}]}`)
	for i := range MaxMatchConditions {
		p.Spec.MatchConditions = append(p.Spec.MatchConditions, v1alpha1MatchCondition(i))
	}
	if _, errs := compiler(t).Compile(p); len(errs) != 0 {
		t.Errorf("64 matchConditions: %v", errs)
	}
}
