package webhooks

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// The node agent restriction (a ValidatingAdmissionPolicy) is run here
// with the kube-apiserver's own CEL compiler and validator, as its
// ValidatingAdmissionPolicy plugin compiles a policy; the end-to-end
// suite (TestNodeAgentRestriction, TestAttackNodeAgentCredentials) runs it
// in the real API server.
const nodeAgentRestriction = "../deploy/base/nodeagent-restriction.yaml"

func loadRestriction(t *testing.T) *admissionregistrationv1.ValidatingAdmissionPolicy {
	t.Helper()
	raw, err := os.ReadFile(nodeAgentRestriction)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
		if err := yaml.UnmarshalStrict([]byte(doc), p); err == nil && p.Kind == "ValidatingAdmissionPolicy" {
			return p
		}
	}
	t.Fatalf("no ValidatingAdmissionPolicy in %s", nodeAgentRestriction)
	return nil
}

// compileRestriction compiles the policy as the kube-apiserver's
// validating plugin does (validating.compilePolicy).
func compileRestriction(t *testing.T, p *admissionregistrationv1.ValidatingAdmissionPolicy) validating.Validator {
	t.Helper()
	compiler, err := cel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		t.Fatal(err)
	}
	opts := cel.OptionalVariableDeclarations{HasAuthorizer: true}
	var vars []cel.NamedExpressionAccessor
	for _, v := range p.Spec.Variables {
		vars = append(vars, &validating.Variable{Name: v.Name, Expression: v.Expression})
	}
	compiler.CompileAndStoreVariables(vars, opts, environment.StoredExpressions)
	var conds []cel.ExpressionAccessor
	for i := range p.Spec.MatchConditions {
		conds = append(conds, (*matchconditions.MatchCondition)(&p.Spec.MatchConditions[i]))
	}
	matcher := matchconditions.NewMatcher(compiler.CompileCondition(conds, opts, environment.StoredExpressions), p.Spec.FailurePolicy, "policy", "validate", p.Name)
	validations := make([]cel.ExpressionAccessor, len(p.Spec.Validations))
	messages := make([]cel.ExpressionAccessor, len(p.Spec.Validations))
	for i, v := range p.Spec.Validations {
		validations[i] = &validating.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason}
		if v.MessageExpression != "" {
			messages[i] = &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}
		}
	}
	return validating.NewValidator(
		compiler.CompileCondition(validations, opts, environment.StoredExpressions), matcher,
		compiler.CompileCondition(nil, opts, environment.StoredExpressions),
		compiler.CompileCondition(messages, cel.OptionalVariableDeclarations{}, environment.StoredExpressions),
		p.Spec.FailurePolicy, nil)
}

// covers says whether the policy's resource rules match the request.
func covers(p *admissionregistrationv1.ValidatingAdmissionPolicy, gvr schema.GroupVersionResource, sub string, op admission.Operation) bool {
	resource := gvr.Resource
	if sub != "" {
		resource += "/" + sub
	}
	for _, r := range p.Spec.MatchConstraints.ResourceRules {
		if slices.Contains(r.APIGroups, gvr.Group) && slices.Contains(r.APIVersions, gvr.Version) &&
			slices.Contains(r.Resources, resource) && slices.Contains(r.Operations, admissionregistrationv1.OperationType(op)) {
			return true
		}
	}
	return false
}

type restrictionCase struct {
	name     string
	user     user.Info
	op       admission.Operation
	gvr      schema.GroupVersionResource
	sub      string
	obj, old runtime.Object
	// deny is a part of the message of the denial wanted; "" wants the
	// request admitted.
	deny string
}

// agentOf is a node agent's service account identity, its token bound to
// a Pod on node.
func agentOf(node string) user.Info {
	return &user.DefaultInfo{Name: "system:serviceaccount:podvirt-system:podvirt-nodeagent",
		Groups: []string{"system:serviceaccounts"}, Extra: map[string][]string{"authentication.kubernetes.io/node-name": {node}}}
}

func (c restrictionCase) run(t *testing.T, p *admissionregistrationv1.ValidatingAdmissionPolicy, v validating.Validator) {
	t.Helper()
	if !covers(p, c.gvr, c.sub, c.op) {
		if c.deny != "" {
			t.Errorf("%s: the policy does not cover %s %s/%s", c.name, c.op, c.gvr.Resource, c.sub)
		}
		return
	}
	var meta metav1.Object
	if c.obj != nil {
		meta = c.obj.(metav1.Object)
	} else {
		meta = c.old.(metav1.Object)
	}
	kind := schema.GroupVersionKind{Group: c.gvr.Group, Version: c.gvr.Version}
	attrs := admission.NewAttributesRecord(c.obj, c.old, kind, meta.GetNamespace(), meta.GetName(), c.gvr, c.sub, c.op, nil, false, c.user)
	versioned := &admission.VersionedAttributes{Attributes: attrs, VersionedKind: kind, VersionedObject: admission.NewLazyObject(c.obj), VersionedOldObject: admission.NewLazyObject(c.old)}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: meta.GetNamespace()}}
	res := v.Validate(context.Background(), c.gvr, versioned, nil, ns, celconfig.RuntimeCELCostBudget, nil)
	var denials []string
	for _, d := range res.Decisions {
		if d.Evaluation == validating.EvalError {
			t.Errorf("%s: evaluation error: %s", c.name, d.Message)
		}
		if d.Action == validating.ActionDeny {
			denials = append(denials, d.Message)
		}
	}
	switch {
	case c.deny == "" && len(denials) > 0:
		t.Errorf("%s: denied: %q", c.name, denials)
	case c.deny != "" && !slices.ContainsFunc(denials, func(m string) bool { return strings.Contains(m, c.deny) }):
		t.Errorf("%s: denials %q, want one saying %q", c.name, denials, c.deny)
	}
}

func lease(name, holder string) *coordinationv1.Lease {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "podvirt-system", Name: name}}
	if holder != "" {
		l.Spec.HolderIdentity = ptr.To(holder)
	}
	l.Spec.LeaseDurationSeconds = ptr.To(int32(40))
	return l
}

var leases = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}

// TestNodeAgentRestrictionLeases: a node agent creates and renews its own
// node's heartbeat Lease, held by its node, and no other Lease.
func TestNodeAgentRestrictionLeases(t *testing.T) {
	p := loadRestriction(t)
	v := compileRestriction(t, p)
	own, other := lease("podvirt-nodeagent-node-a", "node-a"), lease("podvirt-nodeagent-node-b", "node-b")
	cert := &user.DefaultInfo{Name: "system:podvirt:nodeagent:node-a", Groups: []string{"podvirt:nodeagents"}}
	for _, c := range []restrictionCase{
		{name: "create own", user: agentOf("node-a"), op: admission.Create, gvr: leases, obj: own},
		{name: "renew own", user: agentOf("node-a"), op: admission.Update, gvr: leases, obj: own, old: own},
		{name: "renew own, certificate identity", user: cert, op: admission.Update, gvr: leases, obj: own, old: own},
		{name: "renew another node's", user: agentOf("node-a"), op: admission.Update, gvr: leases, obj: other, old: other,
			deny: "node agent of node-a may only create and renew its own heartbeat Lease podvirt-nodeagent-node-a, held by node-a"},
		{name: "create another node's", user: cert, op: admission.Create, gvr: leases, obj: other,
			deny: "may only create and renew its own heartbeat Lease podvirt-nodeagent-node-a"},
		{name: "own Lease held by another node", user: agentOf("node-a"), op: admission.Update, gvr: leases,
			obj: lease("podvirt-nodeagent-node-a", "node-b"), old: own, deny: "held by node-a"},
		{name: "own Lease held by nobody", user: agentOf("node-a"), op: admission.Create, gvr: leases,
			obj: lease("podvirt-nodeagent-node-a", ""), deny: "held by node-a"},
		{name: "the controller's leader Lease", user: agentOf("node-a"), op: admission.Update, gvr: leases,
			obj: lease("podvirt-controller", "node-a"), old: lease("podvirt-controller", "podvirt-controller-0_x"), deny: "its own heartbeat Lease"},
		{name: "delete own", user: agentOf("node-a"), op: admission.Delete, gvr: leases, old: own, deny: "its own heartbeat Lease"},
		{name: "no node in the identity", user: &user.DefaultInfo{Name: "system:serviceaccount:podvirt-system:podvirt-nodeagent"},
			op: admission.Update, gvr: leases, obj: own, old: own, deny: "a node agent's identity must name its node"},
		{name: "the controller renews its leader Lease", user: &user.DefaultInfo{Name: "system:serviceaccount:podvirt-system:podvirt-controller"},
			op: admission.Update, gvr: leases, obj: lease("podvirt-controller", "x"), old: lease("podvirt-controller", "x")},
	} {
		c.run(t, p, v)
	}
}

// TestNodeAgentRestrictionPodsAndVMIs: the rules the Lease rule joined
// still hold (the end-to-end suite has the same cases on a real cluster).
func TestNodeAgentRestrictionPodsAndVMIs(t *testing.T) {
	p := loadRestriction(t)
	v := compileRestriction(t, p)
	pods := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	vmis := schema.GroupVersionResource{Group: "podvirt.io", Version: "v1alpha1", Resource: "virtualmachineinstances"}
	pod := func(node string, finalizers ...string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "virt-launcher-tiny",
			Labels: map[string]string{"podvirt.io/vmi": "tiny"}, Finalizers: finalizers}, Spec: corev1.PodSpec{NodeName: node}}
	}
	relabeled := pod("node-a", "podvirt.io/domain")
	relabeled.Labels["podvirt.io/vmi"] = "other"
	vmi := func(node string, phase v1alpha1.VirtualMachineInstancePhase) *v1alpha1.VirtualMachineInstance {
		return &v1alpha1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tiny"},
			Status: v1alpha1.VirtualMachineInstanceStatus{NodeName: node, Phase: phase}}
	}
	for _, c := range []restrictionCase{
		{name: "release own Pod", user: agentOf("node-a"), op: admission.Update, gvr: pods, obj: pod("node-a"), old: pod("node-a", "podvirt.io/domain")},
		{name: "release another node's Pod", user: agentOf("node-b"), op: admission.Update, gvr: pods, obj: pod("node-a"), old: pod("node-a", "podvirt.io/domain"),
			deny: "node agent of node-b may only change Pods bound to its own node"},
		{name: "relabel own Pod", user: agentOf("node-a"), op: admission.Update, gvr: pods, obj: relabeled, old: pod("node-a", "podvirt.io/domain"),
			deny: "may only add or remove the podvirt.io/domain finalizer"},
		{name: "delete own Pod", user: agentOf("node-a"), op: admission.Delete, gvr: pods, old: pod("node-a"), deny: "a node agent deletes no Pod"},
		{name: "Unknown back to Running", user: agentOf("node-a"), op: admission.Update, gvr: vmis, sub: "status",
			obj: vmi("node-a", v1alpha1.Running), old: vmi("node-a", v1alpha1.Unknown)},
		{name: "report another node's VMI", user: agentOf("node-b"), op: admission.Update, gvr: vmis, sub: "status",
			obj: vmi("node-a", v1alpha1.Failed), old: vmi("node-a", v1alpha1.Unknown), deny: "may only report VMIs that the scheduler bound to its own node"},
	} {
		c.run(t, p, v)
	}
}
