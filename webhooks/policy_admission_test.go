package webhooks

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
)

// handWrittenPolicyValidator is the /validate-vmipolicy handler as it was
// before NewVMIPolicyValidator used controller-runtime's validator: the
// reference the swap is held to.
type handWrittenPolicyValidator struct {
	decoder  admission.Decoder
	compiler *policies.Compiler
}

func (h handWrittenPolicyValidator) Handle(_ context.Context, req admission.Request) admission.Response {
	policy := &v1alpha1.VMIPolicy{}
	if err := h.decoder.Decode(req, policy); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the VMIPolicy: %w", err))
	}
	var old *v1alpha1.VMIPolicy
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		old = &v1alpha1.VMIPolicy{}
		if err := h.decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the old VMIPolicy: %w", err))
		}
	}
	if errs := h.compiler.Validate(policy, old); len(errs) > 0 {
		return denyInvalid(v1alpha1.GroupVersion.WithKind("VMIPolicy").GroupKind(), policy.Name, errs)
	}
	return admission.Allowed("")
}

func TestVMIPolicyValidator(t *testing.T) {
	compiler, err := policies.NewCompiler(policies.CompilerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := scheme(t)
	got, want := NewVMIPolicyValidator(s, compiler), handWrittenPolicyValidator{admission.NewDecoder(s), compiler}
	policy := func(expr string) string {
		return `{"apiVersion":"podvirt.io/v1alpha1","kind":"VMIPolicy","metadata":{"name":"p"},"spec":{"validations":[{"expression":` + fmt.Sprintf("%q", expr) + `}]}}`
	}
	good, typo := policy("object.metadata.name != ''"), policy("object.spec.domian == null")
	cases := []struct {
		name     string
		op       admissionv1.Operation
		obj, old string
		allowed  bool
	}{
		{"valid create", admissionv1.Create, good, "", true},
		{"typo on create", admissionv1.Create, typo, "", false},
		{"typo on update", admissionv1.Update, typo, good, false},
		{"valid update", admissionv1.Update, good, good, true},
		{"garbage", admissionv1.Create, `{"spec":`, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID: "1", Operation: tc.op, Object: runtime.RawExtension{Raw: []byte(tc.obj)},
				Kind: metav1.GroupVersionKind{Group: "podvirt.io", Version: "v1alpha1", Kind: "VMIPolicy"},
			}}
			if tc.old != "" {
				req.OldObject = runtime.RawExtension{Raw: []byte(tc.old)}
			}
			g, w := got.Handle(context.Background(), req), want.Handle(context.Background(), req)
			if g.Allowed != tc.allowed {
				t.Fatalf("allowed=%v, want %v: %+v", g.Allowed, tc.allowed, g.Result)
			}
			if w.Result != nil && w.Result.Code == http.StatusBadRequest {
				if g.Result == nil || g.Result.Code != http.StatusBadRequest || g.Result.Message != strings.TrimPrefix(w.Result.Message, "decoding the VMIPolicy: ") {
					t.Fatalf("got %+v, want a 400 like %+v", g.Result, w.Result)
				}
				return
			}
			if !reflect.DeepEqual(g.AdmissionResponse, w.AdmissionResponse) {
				t.Fatalf("response\n got  %+v\n want %+v", g.AdmissionResponse, w.AdmissionResponse)
			}
			if !tc.allowed && (g.Result.Reason != metav1.StatusReasonInvalid || g.Result.Details == nil || len(g.Result.Details.Causes) == 0) {
				t.Fatalf("result %+v, want Invalid with causes", g.Result)
			}
		})
	}
}
