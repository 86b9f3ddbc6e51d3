package webhooks

import (
	"context"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func podRequest(op admissionv1.Operation, user, obj, old string) admission.Request {
	r := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: op, UserInfo: authenticationv1.UserInfo{Username: user},
		Object: runtime.RawExtension{Raw: []byte(obj)},
	}}
	if old != "" {
		r.OldObject = runtime.RawExtension{Raw: []byte(old)}
	}
	return r
}

func TestPodGuard(t *testing.T) {
	const controller = "system:serviceaccount:podvirt-system:podvirt-controller"
	g := &PodGuard{Creators: []string{controller}, NodeAgents: []string{"system:serviceaccount:podvirt-system:podvirt-nodeagent", "system:podvirt:nodeagent:"}}
	launcher := `{"metadata":{"labels":{"podvirt.io/vmi":"x"},"annotations":{"podvirt.io/domain":"<domain/>"}}}`
	plain := `{"metadata":{"labels":{"app":"x"}}}`
	finalized := `{"metadata":{"labels":{"podvirt.io/vmi":"x"},"annotations":{"podvirt.io/domain":"<domain/>"},"finalizers":["podvirt.io/domain"]}}`
	cases := []struct {
		name, user, obj, old string
		op                   admissionv1.Operation
		allowed              bool
		msg                  string
	}{
		{"controller creates", controller, launcher, "", admissionv1.Create, true, ""},
		{"user creates launcher Pod", "alice", launcher, "", admissionv1.Create, false, "(found annotation podvirt.io/domain, label podvirt.io/vmi)"},
		{"cluster admin creates launcher Pod", "podvirt-admin", launcher, "", admissionv1.Create, false, "only podvirt's controller may create"},
		{"user adds annotation", "alice", `{"metadata":{"annotations":{"podvirt.io/domain":"<domain/>"}}}`, plain, admissionv1.Update, false, "changed annotation podvirt.io/domain"},
		{"user changes the domain", "alice", `{"metadata":{"labels":{"podvirt.io/vmi":"x"},"annotations":{"podvirt.io/domain":"<evil/>"}}}`, launcher, admissionv1.Update, false, "changed annotation podvirt.io/domain"},
		{"user removes a label", "alice", `{"metadata":{"annotations":{"podvirt.io/domain":"<domain/>"}}}`, launcher, admissionv1.Update, false, "changed label podvirt.io/vmi"},
		{"node agent adds a finalizer", "system:serviceaccount:podvirt-system:podvirt-nodeagent", finalized, launcher, admissionv1.Update, true, ""},
		{"user creates a plain Pod", "alice", plain, "", admissionv1.Create, true, ""},
		// Attack: a namespace editor removes the node agent's finalizer from
		// a terminating launcher Pod, so its guest and disks outlive it.
		{"user removes the node agent's finalizer", "alice", launcher, finalized, admissionv1.Update, false, "changed finalizer podvirt.io/domain"},
		{"user adds a podvirt finalizer", "alice", `{"metadata":{"labels":{"app":"x"},"finalizers":["podvirt.io/domain"]}}`, plain, admissionv1.Update, false, "changed finalizer podvirt.io/domain"},
		{"user creates a Pod with a podvirt finalizer", "alice", `{"metadata":{"finalizers":["podvirt.io/launcher"]}}`, "", admissionv1.Create, false, "found finalizer podvirt.io/launcher"},
		{"user keeps the finalizer and adds their own", "alice", `{"metadata":{"labels":{"podvirt.io/vmi":"x"},"annotations":{"podvirt.io/domain":"<domain/>"},"finalizers":["podvirt.io/domain","example.com/mine"]}}`, finalized, admissionv1.Update, true, ""},
		{"node agent by certificate removes its finalizer", "system:podvirt:nodeagent:node-a", launcher, finalized, admissionv1.Update, true, ""},
		{"node agent removes the controller's finalizer", "system:podvirt:nodeagent:node-a", finalized, `{"metadata":{"labels":{"podvirt.io/vmi":"x"},"annotations":{"podvirt.io/domain":"<domain/>"},"finalizers":["podvirt.io/domain","podvirt.io/launcher"]}}`, admissionv1.Update, false, "changed finalizer podvirt.io/launcher"},
		{"node agent changes a label", "system:podvirt:nodeagent:node-a", `{"metadata":{"labels":{"podvirt.io/vmi":"y"},"annotations":{"podvirt.io/domain":"<domain/>"}}}`, launcher, admissionv1.Update, false, "changed label podvirt.io/vmi"},
		{"a look-alike of the node agents' prefix", "system:podvirt:nodeagentx", launcher, finalized, admissionv1.Update, false, "changed finalizer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := g.Handle(context.Background(), podRequest(tc.op, tc.user, tc.obj, tc.old))
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (%v)", resp.Allowed, tc.allowed, resp.Result)
			}
			if tc.msg != "" && !strings.Contains(resp.Result.Message, tc.msg) {
				t.Errorf("message %q lacks %q", resp.Result.Message, tc.msg)
			}
		})
	}
}
