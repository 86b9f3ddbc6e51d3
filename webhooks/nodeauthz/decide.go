package nodeauthz

import (
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/selection"
)

// The node agent identities. They are the ones
// deploy/base/nodeagent-restriction.yaml names, and the matchConditions of
// deploy/base/authorization-config.example.yaml must name them too: a
// request those conditions do not match never reaches Decide.
const (
	// UserPrefix starts the user name of a node agent's client
	// certificate; the node is the rest of the name.
	UserPrefix = "system:podvirt:nodeagent:"
	// ServiceAccount is the node agent's service account; its node is the
	// one bound into its token (NodeNameExtra).
	ServiceAccount = "system:serviceaccount:podvirt-system:podvirt-nodeagent"
	// NodeNameExtra is the extra the kube-apiserver sets from a service
	// account token bound to a Pod: the node that Pod runs on.
	NodeNameExtra = "authentication.kubernetes.io/node-name"
	// Group holds node agents with certificate identities; RBAC grants
	// the node agent's role to it (deploy/base/nodeagent-restriction.yaml),
	// so any member is treated as a node agent, named for a node or not.
	Group = "podvirt:nodeagents"
	// NodeNameField is the Pod field a node agent's list and watch must
	// select on.
	NodeNameField = "spec.nodeName"
)

// Verdict is what the webhook answers. There is no Allow: this authorizer
// only takes away, and RBAC (after it in the chain) grants.
type Verdict int

const (
	// NoOpinion passes the request to the next authorizer.
	NoOpinion Verdict = iota
	// Deny ends the chain: the request is forbidden whatever RBAC grants.
	Deny
)

func (v Verdict) String() string {
	if v == Deny {
		return "deny"
	}
	return "no_opinion"
}

// Decision is a Verdict and why.
type Decision struct {
	Verdict Verdict
	// Reason goes to status.reason (and so into the Forbidden message the
	// node agent gets): the node and what was required.
	Reason string
}

// Status is the SubjectAccessReview status of the decision: Deny is
// denied, NoOpinion is neither allowed nor denied.
func (d Decision) Status() authorizationv1.SubjectAccessReviewStatus {
	return authorizationv1.SubjectAccessReviewStatus{Allowed: false, Denied: d.Verdict == Deny, Reason: d.Reason}
}

// NodeOf says whether the subject is a node agent and, if so, which node
// its identity names ("" when it names none, or more than one).
func NodeOf(spec *authorizationv1.SubjectAccessReviewSpec) (node string, agent bool) {
	switch {
	case strings.HasPrefix(spec.User, UserPrefix):
		return strings.TrimPrefix(spec.User, UserPrefix), true
	case spec.User == ServiceAccount:
		// A token bound to a Pod carries exactly one node; a token
		// without one (a legacy Secret token, a TokenRequest not bound
		// to a Pod) is the node agent's identity without a node.
		if v := spec.Extra[NodeNameExtra]; len(v) == 1 {
			return v[0], true
		}
		return "", true
	}
	for _, g := range spec.Groups {
		if g == Group {
			return "", true
		}
	}
	return "", false
}

// Decide judges one SubjectAccessReview. It answers Deny or NoOpinion,
// never Allow, and is a pure function of the review, so the
// kube-apiserver's cache of answers (keyed by the whole spec) is sound.
func Decide(spec *authorizationv1.SubjectAccessReviewSpec) Decision {
	ra := spec.ResourceAttributes
	if ra == nil || ra.Group != "" || ra.Resource != "pods" {
		return Decision{Verdict: NoOpinion, Reason: "not a request for pods"}
	}
	node, agent := NodeOf(spec)
	if !agent {
		return Decision{Verdict: NoOpinion, Reason: "not a node agent"}
	}
	if node == "" {
		return Decision{Verdict: Deny, Reason: fmt.Sprintf("podvirt: the node agent identity %q names no node (%s<node>, or %s with the extra %s)",
			spec.User, UserPrefix, ServiceAccount, NodeNameExtra)}
	}
	what := "pods"
	if ra.Subresource != "" {
		what += "/" + ra.Subresource
	}
	switch ra.Verb {
	case "list", "watch":
		if ok, why := scopedTo(ra.FieldSelector, node); !ok {
			return Decision{Verdict: Deny, Reason: fmt.Sprintf("podvirt: node agent of %s may %s %s only with the field selector %s=%s (%s)",
				node, ra.Verb, what, NodeNameField, node, why)}
		}
		return Decision{Verdict: NoOpinion, Reason: fmt.Sprintf("%s of %s is scoped to node %s", ra.Verb, what, node)}
	case "get":
		// A get names an object, not a node: whether that Pod is bound
		// here is known only from the object, which an authorizer never
		// sees. The node agent reads Pods only through its cache, which
		// lists and watches with the field selector.
		return Decision{Verdict: Deny, Reason: fmt.Sprintf("podvirt: node agent of %s may not get %s: it reads Pods only by list and watch with the field selector %s=%s",
			node, what, NodeNameField, node)}
	}
	// Writes are the ValidatingAdmissionPolicy's, which sees the object.
	return Decision{Verdict: NoOpinion, Reason: fmt.Sprintf("%s of %s is left to admission", ra.Verb, what)}
}

// scopedTo says whether the field selector selects only Pods bound to
// node: one of its requirements must be spec.nodeName In [node]. The
// others are ANDed with it, so they only narrow what it selects.
func scopedTo(fs *authorizationv1.FieldSelectorAttributes, node string) (bool, string) {
	if fs == nil {
		return false, "no field selector"
	}
	reqs := fs.Requirements
	if len(reqs) == 0 && fs.RawSelector != "" {
		// The kube-apiserver's webhook authorizer sends requirements; a
		// rawSelector alone is what a SubjectAccessReview's author may
		// write, parsed here as the apiserver would parse it.
		var err error
		if reqs, err = requirementsOf(fs.RawSelector); err != nil {
			return false, fmt.Sprintf("the field selector does not parse: %v", err)
		}
	}
	for _, r := range reqs {
		if r.Key == NodeNameField && r.Operator == metav1.FieldSelectorOpIn && len(r.Values) == 1 && r.Values[0] == node {
			return true, ""
		}
	}
	if len(reqs) == 0 {
		return false, "no field selector"
	}
	return false, "the field selector does not require it"
}

// requirementsOf parses a raw field selector into the requirements the
// kube-apiserver's webhook authorizer would send for it (its
// fieldSelectorToAuthorizationAPI): = and == become In, != becomes NotIn,
// anything else is dropped (requirements are ANDed, so dropping one only
// broadens what is checked).
func requirementsOf(raw string) ([]metav1.FieldSelectorRequirement, error) {
	sel, err := fields.ParseSelector(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", raw, err)
	}
	var out []metav1.FieldSelectorRequirement
	for _, r := range sel.Requirements() {
		var op metav1.FieldSelectorOperator
		switch r.Operator {
		case selection.Equals, selection.DoubleEquals, selection.In:
			op = metav1.FieldSelectorOpIn
		case selection.NotEquals, selection.NotIn:
			op = metav1.FieldSelectorOpNotIn
		default:
			continue
		}
		out = append(out, metav1.FieldSelectorRequirement{Key: r.Field, Operator: op, Values: []string{r.Value}})
	}
	return out, nil
}
