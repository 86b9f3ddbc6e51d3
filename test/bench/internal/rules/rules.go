package rules

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Label marks every object the benchmark creates, so that a cleanup finds
// them all (and only them).
const Label = "bench.podvirt.io/owned"

// Rule is one CEL validation.
type Rule struct {
	Name       string
	Expression string
	Message    string
}

// Parse reads rules from TSV lines "name<TAB>expression<TAB>message".
// Blank lines and lines starting with '#' are skipped.
func Parse(r io.Reader) ([]Rule, error) {
	var out []Rule
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("rules line %d: %d tab-separated fields, want 3 (name, expression, message)", n, len(f))
		}
		rule := Rule{Name: strings.TrimSpace(f[0]), Expression: strings.TrimSpace(f[1]), Message: strings.TrimSpace(f[2])}
		if rule.Name == "" || rule.Expression == "" {
			return nil, fmt.Errorf("rules line %d: empty name or expression", n)
		}
		if seen[rule.Name] {
			return nil, fmt.Errorf("rules line %d: duplicate rule %q", n, rule.Name)
		}
		seen[rule.Name] = true
		out = append(out, rule)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	return out, nil
}

// Load parses the rules file at path.
func Load(path string) ([]Rule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening rules: %w", err)
	}
	defer f.Close()
	rules, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rules, nil
}

// ObjectName is the name of a rule's objects: "bench-" + the rule's name.
func ObjectName(r Rule) string { return "bench-" + r.Name }

func validations(r Rule) []any {
	return []any{map[string]any{"expression": r.Expression, "message": r.Message}}
}

func vmiResourceRules() []any {
	return []any{map[string]any{
		"apiGroups":   []any{"podvirt.io"},
		"apiVersions": []any{"v1alpha1"},
		"operations":  []any{"CREATE", "UPDATE"},
		"resources":   []any{"virtualmachineinstances"},
	}}
}

func object(apiVersion, kind, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion,
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "labels": map[string]any{Label: "true"}},
		"spec":       spec,
	}}
}

// VMIPolicy renders r as a podvirt VMIPolicy (it matches VMIs by
// definition; CREATE and UPDATE, Deny).
func VMIPolicy(r Rule) *unstructured.Unstructured {
	return object("podvirt.io/v1alpha1", "VMIPolicy", ObjectName(r), map[string]any{
		"matchConstraints":  map[string]any{"operations": []any{"CREATE", "UPDATE"}},
		"validations":       validations(r),
		"failurePolicy":     "Fail",
		"validationActions": []any{"Deny"},
	})
}

// VAP renders r as a ValidatingAdmissionPolicy and its binding (Deny).
func VAP(r Rule) (policy, binding *unstructured.Unstructured) {
	name := ObjectName(r)
	policy = object("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", name, map[string]any{
		"failurePolicy":    "Fail",
		"matchConstraints": map[string]any{"resourceRules": vmiResourceRules()},
		"validations":      validations(r),
	})
	binding = object("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", name, map[string]any{
		"policyName":        name,
		"validationActions": []any{"Deny"},
	})
	return policy, binding
}

// KyvernoPolicy renders r as a Kyverno ValidatingPolicy
// (policies.kyverno.io/v1; admission only, Deny). Background scans are
// off: the benchmark measures admission, and podvirt's background audit
// has no VMIs to scan either.
func KyvernoPolicy(r Rule) *unstructured.Unstructured {
	return object("policies.kyverno.io/v1", "ValidatingPolicy", ObjectName(r), map[string]any{
		"failurePolicy":     "Fail",
		"matchConstraints":  map[string]any{"resourceRules": vmiResourceRules()},
		"validations":       validations(r),
		"validationActions": []any{"Deny"},
		"evaluation": map[string]any{
			"admission":  map[string]any{"enabled": true},
			"background": map[string]any{"enabled": false},
		},
	})
}
