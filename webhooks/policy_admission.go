package webhooks

import (
	"context"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
)

// ValidatePolicyPath is where VMIPolicy admission is served.
const ValidatePolicyPath = "/validate-vmipolicy"

// VMIPolicyValidator rejects a VMIPolicy whose expressions do not compile
// or type-check against the VMI schema, with the compiler's message and
// position: a typo is a rejected policy, not a silent pass.
type VMIPolicyValidator struct {
	Decoder  admission.Decoder
	Compiler *policies.Compiler
}

// Handle implements admission.Handler.
func (h *VMIPolicyValidator) Handle(_ context.Context, req admission.Request) admission.Response {
	policy := &v1alpha1.VMIPolicy{}
	if err := h.Decoder.Decode(req, policy); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the VMIPolicy: %w", err))
	}
	var old *v1alpha1.VMIPolicy
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		old = &v1alpha1.VMIPolicy{}
		if err := h.Decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the old VMIPolicy: %w", err))
		}
	}
	if errs := h.Compiler.Validate(policy, old); len(errs) > 0 {
		return denyInvalid(v1alpha1.GroupVersion.WithKind("VMIPolicy").GroupKind(), policy.Name, errs)
	}
	return admission.Allowed("")
}
