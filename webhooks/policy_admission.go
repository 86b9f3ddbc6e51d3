package webhooks

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
)

// ValidatePolicyPath is where VMIPolicy admission is served.
const ValidatePolicyPath = "/validate-vmipolicy"

// NewVMIPolicyValidator returns the /validate-vmipolicy handler: it
// rejects a VMIPolicy whose expressions do not compile or type-check
// against the VMI schema, with the compiler's message and position (a
// typo is a rejected policy, not a silent pass). controller-runtime's
// validator does the decoding; an Invalid status error becomes the
// response as it is, causes and all. Only the wording of a 400 for a body
// that does not decode changed: the decoder's error alone, where the
// hand-written handler prefixed "decoding the VMIPolicy: " (the
// kube-apiserver never sends one).
func NewVMIPolicyValidator(scheme *runtime.Scheme, compiler *policies.Compiler) admission.Handler {
	return admission.WithValidator[*v1alpha1.VMIPolicy](scheme, vmiPolicyValidator{compiler: compiler}).Handler
}

// vmiPolicyValidator adapts policies.Compiler.Validate to
// admission.Validator.
type vmiPolicyValidator struct {
	compiler *policies.Compiler
}

func (v vmiPolicyValidator) ValidateCreate(_ context.Context, p *v1alpha1.VMIPolicy) (admission.Warnings, error) {
	return nil, v.validate(p, nil)
}

func (v vmiPolicyValidator) ValidateUpdate(_ context.Context, old, p *v1alpha1.VMIPolicy) (admission.Warnings, error) {
	return nil, v.validate(p, old)
}

// ValidateDelete allows: the webhook configuration routes only CREATE and
// UPDATE here.
func (v vmiPolicyValidator) ValidateDelete(context.Context, *v1alpha1.VMIPolicy) (admission.Warnings, error) {
	return nil, nil
}

func (v vmiPolicyValidator) validate(p, old *v1alpha1.VMIPolicy) error {
	if errs := v.compiler.Validate(p, old); len(errs) > 0 {
		return apierrors.NewInvalid(v1alpha1.GroupVersion.WithKind("VMIPolicy").GroupKind(), p.Name, errs)
	}
	return nil
}
