package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// Paths the VMI handlers are served at.
const (
	MutateVMIPath   = "/mutate-vmi"
	ValidateVMIPath = "/validate-vmi"
)

// VMIDefaulter answers /mutate-vmi with a JSON patch that applies Default.
type VMIDefaulter struct {
	Decoder admission.Decoder
}

// Handle implements admission.Handler.
func (h *VMIDefaulter) Handle(_ context.Context, req admission.Request) admission.Response {
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := h.Decoder.Decode(req, vmi); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the VirtualMachineInstance: %w", err))
	}
	Default(vmi)
	defaulted, err := json.Marshal(vmi)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encoding the defaulted VirtualMachineInstance: %w", err))
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, defaulted)
}

// VMIValidator answers /validate-vmi: Validate on create, ValidateUpdate and
// Validate on update.
type VMIValidator struct {
	Decoder admission.Decoder
}

// Handle implements admission.Handler.
func (h *VMIValidator) Handle(_ context.Context, req admission.Request) admission.Response {
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := h.Decoder.Decode(req, vmi); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the VirtualMachineInstance: %w", err))
	}
	var errs field.ErrorList
	switch req.Operation {
	case admissionv1.Create:
		errs = Validate(vmi)
	case admissionv1.Update:
		old := &v1alpha1.VirtualMachineInstance{}
		if err := h.Decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the old VirtualMachineInstance: %w", err))
		}
		errs = ValidateUpdate(vmi, old)
		if len(errs) == 0 && vmi.DeletionTimestamp == nil {
			errs = Validate(vmi)
		}
	}
	if len(errs) > 0 {
		return denyInvalid(vmi.Name, errs)
	}
	return admission.Allowed("")
}

// denyInvalid denies with an Invalid status whose causes carry each field
// path, so clients see every error at once.
func denyInvalid(name string, errs field.ErrorList) admission.Response {
	gk := v1alpha1.GroupVersion.WithKind("VirtualMachineInstance").GroupKind()
	status := apierrors.NewInvalid(gk, name, errs).ErrStatus
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &status}}
}
