package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
	"github.com/podvirt/podvirt/webhooks/vmirules"
)

func scheme(t testing.TB) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func request(t testing.TB, op admissionv1.Operation, raw string) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "1", Operation: op, Object: runtime.RawExtension{Raw: []byte(raw)},
		Kind: metav1.GroupVersionKind{Group: "podvirt.io", Version: "v1alpha1", Kind: "VirtualMachineInstance"},
	}}
}

const minimalVMI = `{"apiVersion":"podvirt.io/v1alpha1","kind":"VirtualMachineInstance",
 "metadata":{"name":"tiny","namespace":"default"},
 "spec":{"domain":{"memory":{"guest":"128Mi"},
  "firmware":{"kernelBoot":{"container":{"image":"r.example/g:1","kernelPath":"/boot/vmlinuz"}}}}}}`

// defaultedJSON is raw with vmirules.Default applied: a VMI as the
// kube-apiserver passes it to /validate-vmi on create.
func defaultedJSON(t testing.TB, raw []byte) []byte {
	t.Helper()
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := json.Unmarshal(raw, vmi); err != nil {
		t.Fatal(err)
	}
	vmirules.Default(vmi)
	out, err := json.Marshal(vmi)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDefaulterPatches(t *testing.T) {
	h := NewVMIDefaulter()
	resp := h.Handle(context.Background(), request(t, admissionv1.Create, minimalVMI))
	if !resp.Allowed {
		t.Fatalf("denied: %v", resp.Result)
	}
	paths := map[string]bool{}
	for _, p := range resp.Patches {
		paths[p.Path] = true
	}
	for _, want := range []string{"/spec/domain/machine", "/spec/domain/cpu", "/spec/terminationGracePeriodSeconds", "/spec/domain/resources"} {
		if !paths[want] {
			t.Errorf("no patch for %s; patches: %v", want, resp.Patches)
		}
	}
}

func TestDefaulterRejectsGarbage(t *testing.T) {
	h := NewVMIDefaulter()
	resp := h.Handle(context.Background(), request(t, admissionv1.Create, `{"spec":`))
	if resp.Allowed || resp.Result == nil || resp.Result.Code != 400 {
		t.Fatalf("garbage: allowed=%v result=%v, want a 400", resp.Allowed, resp.Result)
	}
}

func TestValidatorDeniesWithCauses(t *testing.T) {
	var obj map[string]any
	if err := json.Unmarshal([]byte(minimalVMI), &obj); err != nil {
		t.Fatal(err)
	}
	delete(obj["spec"].(map[string]any)["domain"].(map[string]any), "memory")
	raw, _ := json.Marshal(obj)
	h := &VMIValidator{}
	resp := h.Handle(context.Background(), request(t, admissionv1.Create, string(raw)))
	if resp.Allowed {
		t.Fatal("a VMI without memory was allowed")
	}
	if resp.Result.Reason != metav1.StatusReasonInvalid || resp.Result.Details == nil || len(resp.Result.Details.Causes) != 1 ||
		resp.Result.Details.Causes[0].Field != "spec.domain.memory.guest" {
		t.Fatalf("result %+v, want Invalid with a cause on spec.domain.memory.guest", resp.Result)
	}
}

// missingReader has no namespace yet (an informer cache that lags).
type missingReader struct{}

func (missingReader) Get(_ context.Context, key client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return apierrors.NewNotFound(corev1.Resource("namespaces"), key.Name)
}

func (missingReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("not implemented")
}

// A policy with a namespaceSelector is never skipped because the cache
// has not seen the namespace yet: the namespace is read from the API
// server, and when it cannot be read at all the request fails (closed).
func TestNamespaceSelectorPolicyIsNeverSkippedOnACacheMiss(t *testing.T) {
	compiler, err := policies.NewCompiler(policies.CompilerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := policies.NewCache(compiler)
	pol := &v1alpha1.VMIPolicy{ObjectMeta: metav1.ObjectMeta{Name: "no-vmis-in-prod", UID: "p1", Generation: 1},
		Spec: v1alpha1.VMIPolicySpec{
			MatchConstraints: &v1alpha1.VMIMatchConstraints{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}},
			Validations:      []admissionregistrationv1.Validation{{Expression: "false", Message: "no VMIs in prod"}},
		}}
	if _, errs := cache.Upsert(pol); len(errs) > 0 {
		t.Fatal(errs)
	}
	prod := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: map[string]string{"env": "prod"}}}
	h := &VMIValidator{Policies: cache, Namespaces: missingReader{}, NamespacesLive: namespaceReader{prod}}
	req := request(t, admissionv1.Create, string(defaultedJSON(t, []byte(minimalVMI))))
	req.Namespace = "default"
	resp := h.Handle(context.Background(), req)
	if resp.Allowed || !strings.Contains(resp.Result.Message, "no VMIs in prod") {
		t.Errorf("with the namespace only in the API server: allowed=%v %q, want the policy's denial", resp.Allowed, resp.Result.Message)
	}
	h.NamespacesLive = missingReader{}
	if resp := h.Handle(context.Background(), req); resp.Allowed {
		t.Error("a namespace that cannot be read let the VMI through: fail open")
	}
}

// A VMIPolicy that denies every update (here: the team label may not be
// missing) must not make a VMI undeletable: the controller's removal of
// its finalizer changes nothing a policy judges. Any other update is still
// judged.
func TestFinalizerRemovalIsNotJudgedByPolicies(t *testing.T) {
	compiler, err := policies.NewCompiler(policies.CompilerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := policies.NewCache(compiler)
	pol := &v1alpha1.VMIPolicy{ObjectMeta: metav1.ObjectMeta{Name: "team-label", UID: "p1", Generation: 1},
		Spec: v1alpha1.VMIPolicySpec{Validations: []admissionregistrationv1.Validation{{
			Expression: "has(object.metadata.labels) && 'team' in object.metadata.labels", Message: "a VMI needs a team label"}}}}
	if _, errs := cache.Upsert(pol); len(errs) > 0 {
		t.Fatal(errs)
	}
	h := &VMIValidator{Policies: cache}
	withMeta := func(meta string) string {
		return strings.Replace(minimalVMI, `"metadata":{"name":"tiny","namespace":"default"}`, `"metadata":{"name":"tiny","namespace":"default",`+meta+`}`, 1)
	}
	old := withMeta(`"finalizers":["podvirt.io/launcher"],"deletionTimestamp":"2026-12-01T00:00:00Z"`)
	released := withMeta(`"deletionTimestamp":"2026-12-01T00:00:00Z"`)
	relabelled := withMeta(`"labels":{"x":"y"},"deletionTimestamp":"2026-12-01T00:00:00Z"`)
	added := withMeta(`"finalizers":["podvirt.io/launcher","example.com/x"],"deletionTimestamp":"2026-12-01T00:00:00Z"`)
	for name, c := range map[string]struct {
		obj     string
		allowed bool
	}{
		"the finalizer removed": {released, true},
		"a label changed too":   {relabelled, false},
		"a finalizer added":     {added, false},
	} {
		req := request(t, admissionv1.Update, c.obj)
		req.OldObject = runtime.RawExtension{Raw: []byte(old)}
		if resp := h.Handle(context.Background(), req); resp.Allowed != c.allowed {
			t.Errorf("%s: allowed=%v (%v), want %v", name, resp.Allowed, resp.Result, c.allowed)
		}
	}
}
