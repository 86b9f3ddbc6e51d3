package webhooks

import (
	"context"
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
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

func TestDefaulterPatches(t *testing.T) {
	h := NewVMIDefaulter(scheme(t))
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
	h := NewVMIDefaulter(scheme(t))
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
