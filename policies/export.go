package policies

import (
	"fmt"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvirt/podvirt/crds/v1alpha1"
)

// ExportVAP returns the ValidatingAdmissionPolicy and
// ValidatingAdmissionPolicyBinding equivalent to a VMIPolicy. Inline params
// have no VAP equivalent; they are substituted into the expressions as CEL
// literals (`params.maxVCPUs` becomes `{"maxVCPUs": 8}.maxVCPUs`), which
// evaluates identically.
func ExportVAP(policy *v1alpha1.VMIPolicy) (*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding, error) {
	spec := policy.Spec.DeepCopy()
	rewrite := func(expr string) (string, error) { return expr, nil }
	if spec.Params != nil && len(spec.Params.Raw) > 0 {
		params, err := DecodeObject(spec.Params.Raw)
		if err != nil {
			return nil, nil, fmt.Errorf("policy %s: spec.params: %w", policy.Name, err)
		}
		literal := celLiteral(params.root)
		rewrite = func(expr string) (string, error) { return substituteIdent(expr, varParams, "("+literal+")") }
	}

	operations := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	namespaceSelector, objectSelector := &metav1.LabelSelector{}, &metav1.LabelSelector{}
	if mc := spec.MatchConstraints; mc != nil {
		if len(mc.Operations) > 0 {
			operations = mc.Operations
		}
		if mc.NamespaceSelector != nil {
			namespaceSelector = mc.NamespaceSelector
		}
		if mc.ObjectSelector != nil {
			objectSelector = mc.ObjectSelector
		}
	}
	scope := admissionregistrationv1.NamespacedScope
	equivalent := admissionregistrationv1.Equivalent
	failurePolicy := admissionregistrationv1.Fail
	if spec.FailurePolicy != nil {
		failurePolicy = *spec.FailurePolicy
	}

	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: policy.Name, Labels: policy.Labels},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			ParamKind: spec.ParamKind,
			MatchConstraints: &admissionregistrationv1.MatchResources{
				NamespaceSelector: namespaceSelector,
				ObjectSelector:    objectSelector,
				MatchPolicy:       &equivalent,
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: operations,
						Rule: admissionregistrationv1.Rule{
							APIGroups:   []string{v1alpha1.GroupVersion.Group},
							APIVersions: []string{v1alpha1.GroupVersion.Version},
							Resources:   []string{"virtualmachineinstances"},
							Scope:       &scope,
						},
					},
				}},
			},
			FailurePolicy:    &failurePolicy,
			MatchConditions:  spec.MatchConditions,
			Variables:        spec.Variables,
			Validations:      spec.Validations,
			AuditAnnotations: spec.AuditAnnotations,
		},
	}
	var err error
	for i := range vap.Spec.MatchConditions {
		if vap.Spec.MatchConditions[i].Expression, err = rewrite(vap.Spec.MatchConditions[i].Expression); err != nil {
			return nil, nil, fmt.Errorf("policy %s: spec.matchConditions[%d]: %w", policy.Name, i, err)
		}
	}
	for i := range vap.Spec.Variables {
		if vap.Spec.Variables[i].Expression, err = rewrite(vap.Spec.Variables[i].Expression); err != nil {
			return nil, nil, fmt.Errorf("policy %s: spec.variables[%d]: %w", policy.Name, i, err)
		}
	}
	for i := range vap.Spec.Validations {
		v := &vap.Spec.Validations[i]
		if v.Expression, err = rewrite(v.Expression); err != nil {
			return nil, nil, fmt.Errorf("policy %s: spec.validations[%d].expression: %w", policy.Name, i, err)
		}
		if v.MessageExpression, err = rewrite(v.MessageExpression); err != nil {
			return nil, nil, fmt.Errorf("policy %s: spec.validations[%d].messageExpression: %w", policy.Name, i, err)
		}
	}
	for i := range vap.Spec.AuditAnnotations {
		a := &vap.Spec.AuditAnnotations[i]
		if a.ValueExpression, err = rewrite(a.ValueExpression); err != nil {
			return nil, nil, fmt.Errorf("policy %s: spec.auditAnnotations[%d]: %w", policy.Name, i, err)
		}
	}

	actions := spec.ValidationActions
	if len(actions) == 0 {
		actions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: policy.Name, Labels: policy.Labels},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ParamRef:          spec.ParamRef,
			ValidationActions: actions,
		},
	}
	return vap, binding, nil
}

// celLiteral renders a JSON value as a CEL literal with the same value.
// Elements of lists and maps whose types differ are wrapped in dyn(), since
// Kubernetes requires homogeneous aggregate literals.
func celLiteral(n *jsonNode) string {
	switch n.kind {
	case kindNull:
		return "null"
	case kindBool:
		return strconv.FormatBool(n.boolean())
	case kindInt:
		return strconv.FormatInt(n.integer(), 10)
	case kindDouble:
		f := n.double()
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEn") { // keep it a double literal
			s += ".0"
		}
		return s
	case kindString:
		return strconv.Quote(n.str())
	}
	kids := n.children()
	wrap := !homogeneousScalars(kids)
	elem := func(c *jsonNode) string {
		if wrap {
			return "dyn(" + celLiteral(c) + ")"
		}
		return celLiteral(c)
	}
	var b strings.Builder
	if n.kind == kindArray {
		b.WriteString("[")
		for i := range kids {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(elem(&kids[i]))
		}
		b.WriteString("]")
		return b.String()
	}
	b.WriteString("{")
	for i := range kids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(kids[i].key()))
		b.WriteString(": ")
		b.WriteString(elem(&kids[i]))
	}
	b.WriteString("}")
	return b.String()
}

// homogeneousScalars reports whether the nodes are scalars of one kind.
func homogeneousScalars(nodes []jsonNode) bool {
	for i := range nodes {
		if nodes[i].kind == kindObject || nodes[i].kind == kindArray || nodes[i].kind == kindNull || nodes[i].kind != nodes[0].kind {
			return false
		}
	}
	return true
}

// substituteIdent replaces the identifier ident in a CEL expression with
// replacement, leaving string literals, comments and field names (x.ident)
// alone. It refuses expressions that bind ident as a comprehension
// variable.
func substituteIdent(expr, ident, replacement string) (string, error) {
	var out strings.Builder
	i := 0
	prevSignificant := byte(0)
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == '/' && i+1 < len(expr) && expr[i+1] == '/':
			end := strings.IndexByte(expr[i:], '\n')
			if end < 0 {
				end = len(expr) - i
			}
			out.WriteString(expr[i : i+end])
			i += end
			continue
		case c == '"' || c == '\'':
			end := stringLiteralEnd(expr, i)
			out.WriteString(expr[i:end])
			i = end
			prevSignificant = c
			continue
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdentPart(expr[j]) {
				j++
			}
			word := expr[i:j]
			// r"..." and b"..." prefixes start string literals.
			if j < len(expr) && (expr[j] == '"' || expr[j] == '\'') && isStringPrefix(word) {
				end := stringLiteralEnd(expr, j)
				out.WriteString(expr[i:end])
				i = end
				prevSignificant = '"'
				continue
			}
			if word == ident && prevSignificant != '.' {
				if k := nextSignificant(expr, j); k < len(expr) && expr[k] == ',' && prevSignificant == '(' {
					return "", fmt.Errorf("cannot substitute %s: it is bound as a comprehension variable", ident)
				}
				out.WriteString(replacement)
			} else {
				out.WriteString(word)
			}
			i = j
			prevSignificant = 'a'
			continue
		}
		out.WriteByte(c)
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			prevSignificant = c
		}
		i++
	}
	return out.String(), nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func isStringPrefix(word string) bool {
	switch strings.ToLower(word) {
	case "r", "b", "rb", "br":
		return true
	}
	return false
}

func nextSignificant(expr string, i int) int {
	for i < len(expr) && (expr[i] == ' ' || expr[i] == '\t' || expr[i] == '\n' || expr[i] == '\r') {
		i++
	}
	return i
}

// stringLiteralEnd returns the index just past the string literal that
// starts with the quote at expr[start], single or triple quoted.
func stringLiteralEnd(expr string, start int) int {
	q := expr[start]
	if strings.HasPrefix(expr[start:], strings.Repeat(string(q), 3)) {
		end := strings.Index(expr[start+3:], strings.Repeat(string(q), 3))
		if end < 0 {
			return len(expr)
		}
		return start + 3 + end + 3
	}
	for i := start + 1; i < len(expr); i++ {
		switch expr[i] {
		case '\\':
			i++
		case q:
			return i + 1
		}
	}
	return len(expr)
}
