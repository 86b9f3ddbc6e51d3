package nodeauthz

import (
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Identities of the table.
var (
	certA   = user("system:podvirt:nodeagent:node-a", Group)
	saA     = saUser(map[string]authorizationv1.ExtraValue{NodeNameExtra: {"node-a"}})
	noExtra = saUser(nil)
)

func user(name string, groups ...string) authorizationv1.SubjectAccessReviewSpec {
	return authorizationv1.SubjectAccessReviewSpec{User: name, Groups: append(groups, "system:authenticated")}
}

func saUser(extra map[string]authorizationv1.ExtraValue) authorizationv1.SubjectAccessReviewSpec {
	s := user(ServiceAccount, "system:serviceaccounts", "system:serviceaccounts:podvirt-system")
	s.Extra = extra
	return s
}

func in(key string, values ...string) metav1.FieldSelectorRequirement {
	return metav1.FieldSelectorRequirement{Key: key, Operator: metav1.FieldSelectorOpIn, Values: values}
}

func reqs(r ...metav1.FieldSelectorRequirement) *authorizationv1.FieldSelectorAttributes {
	return &authorizationv1.FieldSelectorAttributes{Requirements: r}
}

func raw(s string) *authorizationv1.FieldSelectorAttributes {
	return &authorizationv1.FieldSelectorAttributes{RawSelector: s}
}

// pods is a request on core pods; with modifies it.
func pods(who authorizationv1.SubjectAccessReviewSpec, verb string, fs *authorizationv1.FieldSelectorAttributes, with ...func(*authorizationv1.ResourceAttributes)) *authorizationv1.SubjectAccessReviewSpec {
	ra := &authorizationv1.ResourceAttributes{Verb: verb, Version: "v1", Resource: "pods", FieldSelector: fs}
	for _, w := range with {
		w(ra)
	}
	who.ResourceAttributes = ra
	return &who
}

func TestDecide(t *testing.T) {
	onNodeA := reqs(in("spec.nodeName", "node-a"))
	labelsOnly := func(ra *authorizationv1.ResourceAttributes) {
		ra.LabelSelector = &authorizationv1.LabelSelectorAttributes{Requirements: []metav1.LabelSelectorRequirement{
			{Key: "spec.nodeName", Operator: metav1.LabelSelectorOpIn, Values: []string{"node-a"}},
		}}
	}
	for _, tc := range []struct {
		name   string
		spec   *authorizationv1.SubjectAccessReviewSpec
		want   Verdict
		reason string // a substring of the reason, when it matters
	}{
		// list and watch: the field selector decides.
		{name: "cert list on own node", spec: pods(certA, "list", onNodeA), want: NoOpinion},
		{name: "cert watch on own node", spec: pods(certA, "watch", onNodeA), want: NoOpinion},
		{name: "sa list on own node", spec: pods(saA, "list", onNodeA), want: NoOpinion},
		{name: "sa watch on own node, namespaced", spec: pods(saA, "watch", onNodeA, func(ra *authorizationv1.ResourceAttributes) { ra.Namespace = "tenant" }), want: NoOpinion},
		{name: "list without a selector", spec: pods(certA, "list", nil), want: Deny, reason: "node agent of node-a may list pods only with the field selector spec.nodeName=node-a (no field selector)"},
		{name: "watch without a selector", spec: pods(saA, "watch", nil), want: Deny, reason: "no field selector"},
		{name: "empty field selector", spec: pods(certA, "list", &authorizationv1.FieldSelectorAttributes{}), want: Deny, reason: "no field selector"},
		{name: "another node", spec: pods(certA, "list", reqs(in("spec.nodeName", "node-b"))), want: Deny, reason: "does not require it"},
		{name: "own node name as a prefix", spec: pods(certA, "list", reqs(in("spec.nodeName", "node-a-2"))), want: Deny},
		{name: "no node (unscheduled Pods)", spec: pods(certA, "list", reqs(in("spec.nodeName", ""))), want: Deny},
		{name: "two values", spec: pods(certA, "list", reqs(in("spec.nodeName", "node-a", "node-b"))), want: Deny},
		{name: "no values", spec: pods(certA, "list", reqs(in("spec.nodeName"))), want: Deny},
		{name: "not equal", spec: pods(certA, "list", reqs(metav1.FieldSelectorRequirement{Key: "spec.nodeName", Operator: metav1.FieldSelectorOpNotIn, Values: []string{"node-b"}})), want: Deny},
		{name: "not equal to own node", spec: pods(certA, "list", reqs(metav1.FieldSelectorRequirement{Key: "spec.nodeName", Operator: metav1.FieldSelectorOpNotIn, Values: []string{"node-a"}})), want: Deny},
		{name: "exists", spec: pods(certA, "list", reqs(metav1.FieldSelectorRequirement{Key: "spec.nodeName", Operator: metav1.FieldSelectorOpExists})), want: Deny},
		{name: "another field", spec: pods(certA, "list", reqs(in("spec.nominatedNodeName", "node-a"))), want: Deny},
		{name: "field name case", spec: pods(certA, "list", reqs(in("spec.nodename", "node-a"))), want: Deny},
		{name: "extra requirements only narrow", spec: pods(certA, "watch", reqs(in("metadata.name", "launcher-x"), in("spec.nodeName", "node-a"), metav1.FieldSelectorRequirement{Key: "status.phase", Operator: metav1.FieldSelectorOpNotIn, Values: []string{"Failed"}})), want: NoOpinion},
		{name: "own node ANDed with another", spec: pods(certA, "list", reqs(in("spec.nodeName", "node-b"), in("spec.nodeName", "node-a"))), want: NoOpinion},
		{name: "label selector only", spec: pods(certA, "list", nil, labelsOnly), want: Deny, reason: "no field selector"},
		{name: "label and field selector", spec: pods(certA, "list", onNodeA, labelsOnly), want: NoOpinion},
		// rawSelector: parsed only when there are no requirements.
		{name: "raw own node", spec: pods(certA, "list", raw("spec.nodeName=node-a")), want: NoOpinion},
		{name: "raw double equals", spec: pods(saA, "watch", raw("spec.nodeName==node-a")), want: NoOpinion},
		{name: "raw with more terms", spec: pods(certA, "list", raw("status.phase!=Failed,spec.nodeName=node-a")), want: NoOpinion},
		{name: "raw another node", spec: pods(certA, "list", raw("spec.nodeName=node-b")), want: Deny, reason: "does not require it"},
		{name: "raw not equal", spec: pods(certA, "list", raw("spec.nodeName!=node-b")), want: Deny},
		{name: "raw escaped comma is one value", spec: pods(certA, "list", raw(`spec.nodeName=node-a\,spec.nodeName=x`)), want: Deny},
		{name: "raw unparseable", spec: pods(certA, "list", raw("spec.nodeName=node-a,foo")), want: Deny, reason: "does not parse"},
		{name: "raw bad escape", spec: pods(certA, "list", raw(`spec.nodeName=node-a\`)), want: Deny, reason: "does not parse"},
		{name: "requirements win over raw", spec: pods(certA, "list", &authorizationv1.FieldSelectorAttributes{RawSelector: "spec.nodeName=node-a", Requirements: []metav1.FieldSelectorRequirement{in("spec.nodeName", "node-b")}}), want: Deny},
		{name: "requirements and raw agree", spec: pods(certA, "list", &authorizationv1.FieldSelectorAttributes{RawSelector: "spec.nodeName=node-a", Requirements: []metav1.FieldSelectorRequirement{in("spec.nodeName", "node-a")}}), want: NoOpinion},
		// get: denied, whatever it names.
		{name: "get", spec: pods(certA, "get", nil, func(ra *authorizationv1.ResourceAttributes) { ra.Namespace, ra.Name = "tenant", "launcher-x" }), want: Deny, reason: "node agent of node-a may not get pods"},
		{name: "get with a selector", spec: pods(saA, "get", onNodeA), want: Deny},
		{name: "get status", spec: pods(certA, "get", nil, func(ra *authorizationv1.ResourceAttributes) { ra.Subresource = "status" }), want: Deny, reason: "get pods/status"},
		{name: "get log", spec: pods(certA, "get", nil, func(ra *authorizationv1.ResourceAttributes) { ra.Subresource = "log" }), want: Deny},
		// Writes are admission's.
		{name: "update", spec: pods(certA, "update", nil), want: NoOpinion},
		{name: "patch", spec: pods(saA, "patch", nil), want: NoOpinion},
		{name: "update status", spec: pods(certA, "update", nil, func(ra *authorizationv1.ResourceAttributes) { ra.Subresource = "status" }), want: NoOpinion},
		{name: "create", spec: pods(certA, "create", nil), want: NoOpinion},
		{name: "delete", spec: pods(certA, "delete", nil), want: NoOpinion},
		{name: "deletecollection", spec: pods(certA, "deletecollection", nil), want: NoOpinion},
		// Identities without a node: denied on pods, whatever the verb.
		{name: "sa without extra, list on a node", spec: pods(noExtra, "list", onNodeA), want: Deny, reason: "names no node"},
		{name: "sa without extra, update", spec: pods(noExtra, "update", nil), want: Deny},
		{name: "sa with an empty node", spec: pods(saUser(map[string]authorizationv1.ExtraValue{NodeNameExtra: {""}}), "list", reqs(in("spec.nodeName", ""))), want: Deny, reason: "names no node"},
		{name: "sa with two nodes", spec: pods(saUser(map[string]authorizationv1.ExtraValue{NodeNameExtra: {"node-a", "node-b"}}), "list", onNodeA), want: Deny, reason: "names no node"},
		{name: "sa with another extra", spec: pods(saUser(map[string]authorizationv1.ExtraValue{"authentication.kubernetes.io/pod-name": {"node-a"}}), "list", onNodeA), want: Deny},
		{name: "cert with an empty suffix", spec: pods(user(UserPrefix, Group), "list", reqs(in("spec.nodeName", ""))), want: Deny, reason: "names no node"},
		{name: "group member with another name", spec: pods(user("mallory", Group), "list", onNodeA), want: Deny, reason: "names no node"},
		{name: "group member with another name, update", spec: pods(user("mallory", Group), "update", nil), want: Deny},
		// A cert identity's node comes from its name, not from extras.
		{name: "cert with a node extra", spec: pods(func() authorizationv1.SubjectAccessReviewSpec {
			s := user("system:podvirt:nodeagent:node-a")
			s.Extra = map[string]authorizationv1.ExtraValue{NodeNameExtra: {"node-b"}}
			return s
		}(), "list", reqs(in("spec.nodeName", "node-b"))), want: Deny},
		// Not node agents.
		{name: "name containing the prefix", spec: pods(user("evil-system:podvirt:nodeagent:node-a"), "list", nil), want: NoOpinion, reason: "not a node agent"},
		{name: "name with the prefix in upper case", spec: pods(user("SYSTEM:PODVIRT:NODEAGENT:node-a"), "list", nil), want: NoOpinion},
		{name: "prefix without the colon", spec: pods(user("system:podvirt:nodeagent"), "get", nil), want: NoOpinion},
		{name: "another service account of the namespace", spec: pods(user("system:serviceaccount:podvirt-system:podvirt-nodeagent2"), "list", nil), want: NoOpinion},
		{name: "same service account name elsewhere", spec: pods(user("system:serviceaccount:tenant:podvirt-nodeagent"), "list", nil), want: NoOpinion},
		{name: "node extra on another user", spec: pods(func() authorizationv1.SubjectAccessReviewSpec {
			s := user("system:serviceaccount:tenant:builder")
			s.Extra = map[string]authorizationv1.ExtraValue{NodeNameExtra: {"node-a"}}
			return s
		}(), "list", nil), want: NoOpinion},
		{name: "a kubelet", spec: pods(user("system:node:node-a", "system:nodes"), "list", nil), want: NoOpinion},
		{name: "the controller", spec: pods(user("system:serviceaccount:podvirt-system:podvirt-controller"), "get", nil), want: NoOpinion},
		// Not core pods.
		{name: "pods of another group", spec: pods(certA, "list", nil, func(ra *authorizationv1.ResourceAttributes) { ra.Group = "metrics.k8s.io" }), want: NoOpinion, reason: "not a request for pods"},
		{name: "vmis", spec: pods(certA, "get", nil, func(ra *authorizationv1.ResourceAttributes) {
			ra.Group, ra.Resource = "podvirt.io", "virtualmachineinstances"
		}), want: NoOpinion},
		{name: "nodeless identity, secrets", spec: pods(noExtra, "list", nil, func(ra *authorizationv1.ResourceAttributes) { ra.Resource = "secrets" }), want: NoOpinion},
		{name: "non-resource request", spec: func() *authorizationv1.SubjectAccessReviewSpec {
			s := certA
			s.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: "/api", Verb: "get"}
			return &s
		}(), want: NoOpinion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.spec)
			if d.Verdict != tc.want {
				t.Fatalf("Decide = %v (%s), want %v", d.Verdict, d.Reason, tc.want)
			}
			if !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", d.Reason, tc.reason)
			}
			st := d.Status()
			if st.Allowed || st.Denied != (tc.want == Deny) || st.Reason != d.Reason {
				t.Errorf("status %+v for %v", st, d.Verdict)
			}
			if d.Verdict == Deny && !strings.HasPrefix(d.Reason, "podvirt: ") {
				t.Errorf("a denial's reason %q does not say who denied", d.Reason)
			}
		})
	}
}

func TestNodeOf(t *testing.T) {
	for _, tc := range []struct {
		spec  authorizationv1.SubjectAccessReviewSpec
		node  string
		agent bool
	}{
		{certA, "node-a", true},
		{user("system:podvirt:nodeagent:a:b"), "a:b", true}, // as the VAP's substring(25): no node is named so
		{saA, "node-a", true},
		{noExtra, "", true},
		{user("mallory", Group), "", true},
		{user("system:podvirt:nodeagents:x"), "", false},
		{user("mallory"), "", false},
	} {
		node, agent := NodeOf(&tc.spec)
		if node != tc.node || agent != tc.agent {
			t.Errorf("NodeOf(%q, %v) = %q, %v; want %q, %v", tc.spec.User, tc.spec.Extra, node, agent, tc.node, tc.agent)
		}
	}
}
