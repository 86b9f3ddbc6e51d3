package scenario

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// vmiRequest is what the benchmark sends: CREATE of podvirt.io/v1alpha1
// virtualmachineinstances.
var vmiRequest = struct{ group, version, resource, operation string }{
	"podvirt.io", "v1alpha1", "virtualmachineinstances", "CREATE",
}

func matchesOne(list []string, v string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, v)
}

func matchesResource(list []string, res string) bool {
	for _, r := range list {
		main, _, _ := strings.Cut(r, "/")
		if r == "*" || r == "*/*" || r == res || (main == res && !strings.Contains(r, "/")) {
			return true
		}
	}
	return false
}

// RuleMatchesVMICreate reports whether a webhook rule matches a VMI
// create. Selectors and match conditions are not looked at: a webhook
// that might be called counts as in the path.
func RuleMatchesVMICreate(r admissionregistrationv1.RuleWithOperations) bool {
	ops := make([]string, len(r.Operations))
	for i, o := range r.Operations {
		ops[i] = string(o)
	}
	return matchesOne(ops, vmiRequest.operation) && matchesOne(r.APIGroups, vmiRequest.group) &&
		matchesOne(r.APIVersions, vmiRequest.version) && matchesResource(r.Resources, vmiRequest.resource)
}

func anyRule(rules []admissionregistrationv1.RuleWithOperations) bool {
	return slices.ContainsFunc(rules, RuleMatchesVMICreate)
}

// Path is what a VMI create passes through: webhooks as
// "mutating/<configuration>/<webhook>" or "validating/...", and the
// number of ValidatingAdmissionPolicyBindings whose policy matches VMIs.
type Path struct {
	Webhooks []string
	VAPs     int
	// MAPs are the MutatingAdmissionPolicies, bound, that match VMIs.
	MAPs []string
}

// mutatingPoliciesInPath names the bound MutatingAdmissionPolicies whose
// rules match a VMI create.
func mutatingPoliciesInPath(policies []admissionregistrationv1.MutatingAdmissionPolicy, bindings []admissionregistrationv1.MutatingAdmissionPolicyBinding) []string {
	bound := map[string]bool{}
	for _, b := range bindings {
		bound[b.Spec.PolicyName] = true
	}
	var names []string
	for _, pol := range policies {
		if !bound[pol.Name] || pol.Spec.MatchConstraints == nil {
			continue
		}
		if slices.ContainsFunc(pol.Spec.MatchConstraints.ResourceRules, func(r admissionregistrationv1.NamedRuleWithOperations) bool {
			return RuleMatchesVMICreate(r.RuleWithOperations)
		}) {
			names = append(names, pol.Name)
		}
	}
	slices.Sort(names)
	return names
}

// PathOf computes the Path from the cluster's configurations.
func PathOf(m []admissionregistrationv1.MutatingWebhookConfiguration, v []admissionregistrationv1.ValidatingWebhookConfiguration,
	policies []admissionregistrationv1.ValidatingAdmissionPolicy, bindings []admissionregistrationv1.ValidatingAdmissionPolicyBinding) Path {
	var p Path
	for _, c := range m {
		for _, w := range c.Webhooks {
			if anyRule(w.Rules) {
				p.Webhooks = append(p.Webhooks, "mutating/"+c.Name+"/"+w.Name)
			}
		}
	}
	for _, c := range v {
		for _, w := range c.Webhooks {
			if anyRule(w.Rules) {
				p.Webhooks = append(p.Webhooks, "validating/"+c.Name+"/"+w.Name)
			}
		}
	}
	matching := map[string]bool{}
	for _, pol := range policies {
		if pol.Spec.MatchConstraints == nil {
			continue
		}
		for _, r := range pol.Spec.MatchConstraints.ResourceRules {
			if RuleMatchesVMICreate(r.RuleWithOperations) {
				matching[pol.Name] = true
			}
		}
	}
	for _, b := range bindings {
		if matching[b.Spec.PolicyName] {
			p.VAPs++
		}
	}
	slices.Sort(p.Webhooks)
	return p
}

// Expect is what a scenario wants in the path: webhooks whose
// "kind/configuration/" prefix is listed (nothing else), and VAPs
// bindings.
type Expect struct {
	// Configurations are "mutating/<name>" or "validating/<name>"; a
	// trailing "*" matches any name with that prefix.
	Configurations []string
	VAPs           int
	// MAPs are the MutatingAdmissionPolicies wanted in the path, no more.
	MAPs []string
	// AtLeastOne: some webhook of Configurations must be in the path
	// (else the scenario measures nothing of its webhook).
	AtLeastOne bool
}

// Check returns what is wrong with p for e, "" if nothing.
func (e Expect) Check(p Path) string {
	var strangers []string
	found := false
	for _, w := range p.Webhooks {
		ok := slices.ContainsFunc(e.Configurations, func(c string) bool {
			if pre, wild := strings.CutSuffix(c, "*"); wild {
				return strings.HasPrefix(w, pre)
			}
			return strings.HasPrefix(w, c+"/")
		})
		if ok {
			found = true
		} else {
			strangers = append(strangers, w)
		}
	}
	var problems []string
	if len(strangers) > 0 {
		problems = append(problems, "unexpected webhooks in the path: "+strings.Join(strangers, ", "))
	}
	if e.AtLeastOne && !found {
		problems = append(problems, "none of "+strings.Join(e.Configurations, ", ")+" is in the path")
	}
	if !slices.Equal(p.MAPs, e.MAPs) {
		problems = append(problems, fmt.Sprintf("MutatingAdmissionPolicies in the path: %v, want %v", p.MAPs, e.MAPs))
	}
	if p.VAPs != e.VAPs {
		problems = append(problems, "ValidatingAdmissionPolicyBindings in the path: "+strconv.Itoa(p.VAPs)+", want "+strconv.Itoa(e.VAPs))
	}
	return strings.Join(problems, "; ")
}
