package nodeauthz

import (
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/selection"
)

// FuzzDecide feeds arbitrary identities, verbs and raw field selectors to
// Decide. It must answer (never panic); whatever list or watch it lets a
// node agent through must select no Pod bound to another node; and a raw
// selector must be judged as the requirements the kube-apiserver derives
// from it (apiserverRequirements, written apart from requirementsOf).
func FuzzDecide(f *testing.F) {
	for _, s := range []struct{ user, node, verb, raw string }{
		{"system:podvirt:nodeagent:node-a", "", "list", "spec.nodeName=node-a"},
		{"system:podvirt:nodeagent:node-a", "", "watch", "spec.nodeName==node-a,status.phase!=Failed"},
		{"system:podvirt:nodeagent:node-a", "", "list", "spec.nodeName!=node-b"},
		{"system:podvirt:nodeagent:node-a", "", "list", `spec.nodeName=node-a\,x`},
		{"system:podvirt:nodeagent:a,b", "", "list", `spec.nodeName=a\,b`},
		{ServiceAccount, "node-a", "list", "spec.nodeName=node-b,spec.nodeName=node-a"},
		{ServiceAccount, "", "list", "spec.nodeName="},
		{ServiceAccount, "node-a", "get", "metadata.name=x"},
		{"mallory", "node-a", "list", ""},
	} {
		f.Add(s.user, s.node, s.verb, s.raw)
	}
	f.Fuzz(func(t *testing.T, user, node, verb, raw string) {
		spec := &authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: verb, Version: "v1", Resource: "pods", FieldSelector: &authorizationv1.FieldSelectorAttributes{RawSelector: raw},
		}}
		if node != "" {
			spec.Extra = map[string]authorizationv1.ExtraValue{NodeNameExtra: {node}}
		}
		d := Decide(spec)
		if d.Reason == "" {
			t.Fatalf("no reason for %v", d.Verdict)
		}
		agentNode, agent := NodeOf(spec)
		if d.Verdict == Deny && !strings.HasPrefix(d.Reason, "podvirt: ") {
			t.Fatalf("a denial's reason %q does not say who denied", d.Reason)
		}
		if agent && agentNode == "" && d.Verdict != Deny {
			t.Fatalf("a node agent without a node got %v", d.Verdict)
		}
		if !agent || (verb != "list" && verb != "watch") {
			return
		}
		sel, err := fields.ParseSelector(raw)
		if d.Verdict == NoOpinion {
			if err != nil {
				t.Fatalf("%q does not parse (%v) yet passed", raw, err)
			}
			// Another node's Pod, with every other field the selector
			// names set as it asks: if the selector still matches, the
			// node was not required.
			other := agentNode + "x"
			set := fields.Set{}
			for _, r := range sel.Requirements() {
				if r.Operator == selection.Equals || r.Operator == selection.DoubleEquals {
					set[r.Field] = r.Value
				}
			}
			set[NodeNameField] = other
			if sel.Matches(set) {
				t.Fatalf("%q passed for node %q but selects Pods of node %q", raw, agentNode, other)
			}
		}
		// The same selector as the kube-apiserver would send it.
		withReqs := *spec
		ra := *spec.ResourceAttributes
		ra.FieldSelector = nil
		if err == nil {
			if r := apiserverRequirements(sel); len(r) > 0 {
				ra.FieldSelector = &authorizationv1.FieldSelectorAttributes{Requirements: r}
			}
		}
		withReqs.ResourceAttributes = &ra
		if d2 := Decide(&withReqs); d2.Verdict != d.Verdict {
			t.Fatalf("raw %q: %v (%s), as requirements: %v (%s)", raw, d.Verdict, d.Reason, d2.Verdict, d2.Reason)
		}
	})
}

// apiserverRequirements is the kube-apiserver's conversion
// (k8s.io/apiserver/plugin/pkg/authorizer/webhook,
// fieldSelectorToAuthorizationAPI), copied so the fuzzer checks
// requirementsOf against it rather than against itself.
func apiserverRequirements(sel fields.Selector) []metav1.FieldSelectorRequirement {
	out := []metav1.FieldSelectorRequirement{}
	for _, r := range sel.Requirements() {
		switch {
		case r.Operator == selection.Equals || r.Operator == selection.DoubleEquals || r.Operator == selection.In:
			out = append(out, metav1.FieldSelectorRequirement{Operator: metav1.FieldSelectorOpIn, Key: r.Field, Values: []string{r.Value}})
		case r.Operator == selection.NotEquals || r.Operator == selection.NotIn:
			out = append(out, metav1.FieldSelectorRequirement{Operator: metav1.FieldSelectorOpNotIn, Key: r.Field, Values: []string{r.Value}})
		}
	}
	return out
}
