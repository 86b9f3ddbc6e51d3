package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
	"github.com/podvirt/podvirt/webhooks/vmirules"
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
	vmirules.Default(vmi)
	defaulted, err := json.Marshal(vmi)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encoding the defaulted VirtualMachineInstance: %w", err))
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, defaulted)
}

// VMIValidator answers /validate-vmi: Validate on create, ValidateUpdate and
// Validate on update, then every matching VMIPolicy. It parses each object
// once: the built-in checks read it typed, the policies as CEL values.
type VMIValidator struct {
	// Policies holds the compiled VMIPolicies; nil evaluates none.
	Policies *policies.Cache
	// Namespaces reads the VMI's Namespace for namespaceObject and
	// namespaceSelector.
	Namespaces client.Reader
	// Params resolves paramRef.
	Params policies.ParamSource

	typed policies.TypedDecoder
}

// Handle implements admission.Handler.
func (h *VMIValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	object, vmi, err := h.decodeVMI(req.Object.Raw)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the VirtualMachineInstance: %w", err))
	}
	var oldObject *policies.Object
	var errs field.ErrorList
	switch req.Operation {
	case admissionv1.Create:
		errs = vmirules.Validate(vmi)
	case admissionv1.Update:
		var old *v1alpha1.VirtualMachineInstance
		if oldObject, old, err = h.decodeVMI(req.OldObject.Raw); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the old VirtualMachineInstance: %w", err))
		}
		errs = vmirules.ValidateUpdate(vmi, old)
		if len(errs) == 0 && vmi.DeletionTimestamp == nil {
			errs = vmirules.Validate(vmi)
		}
	}
	rec := RecordFromContext(ctx)
	if len(errs) > 0 {
		rec.AddPolicy(BuiltinValidation, "Deny", false, errs.ToAggregate().Error())
		return denyInvalid(v1alpha1.GroupVersion.WithKind("VirtualMachineInstance").GroupKind(), vmi.Name, errs)
	}
	rec.AddPolicy(BuiltinValidation, "Deny", true, "")
	return h.evaluatePolicies(ctx, req, object, oldObject, rec)
}

// decodeVMI parses raw once into the document policies evaluate and the
// typed VMI the built-in checks read. Like the API machinery's decoders it
// requires apiVersion and kind to name a VirtualMachineInstance.
func (h *VMIValidator) decodeVMI(raw []byte) (*policies.Object, *v1alpha1.VirtualMachineInstance, error) {
	if len(raw) == 0 {
		return nil, nil, fmt.Errorf("there is no content to decode")
	}
	object, err := policies.DecodeObject(raw)
	if err != nil {
		return nil, nil, err
	}
	if apiVersion, kind := object.APIVersion(), object.Kind(); apiVersion != v1alpha1.GroupVersion.String() || kind != "VirtualMachineInstance" {
		return nil, nil, fmt.Errorf("apiVersion %q, kind %q: want %s, VirtualMachineInstance", apiVersion, kind, v1alpha1.GroupVersion)
	}
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := h.typed.Decode(object, vmi); err != nil {
		return nil, nil, err
	}
	return object, vmi, nil
}

// evaluatePolicies runs every VMIPolicy against the request and turns the
// verdict into the response, as kube-apiserver does for a
// ValidatingAdmissionPolicy.
func (h *VMIValidator) evaluatePolicies(ctx context.Context, req admission.Request, object, oldObject *policies.Object, rec *Record) admission.Response {
	if h.Policies == nil {
		return admission.Allowed("")
	}
	set := h.Policies.Set()
	if len(set.Policies()) == 0 {
		return admission.Allowed("")
	}
	var ns *corev1.Namespace
	if req.Namespace != "" && h.Namespaces != nil {
		ns = &corev1.Namespace{}
		if err := h.Namespaces.Get(ctx, types.NamespacedName{Name: req.Namespace}, ns); err != nil {
			if !apierrors.IsNotFound(err) {
				return admission.Errored(http.StatusInternalServerError, fmt.Errorf("reading namespace %s: %w", req.Namespace, err))
			}
			ns = nil
		}
	}
	in := policies.NewDecodedInput(&req.AdmissionRequest, object, oldObject, ns, h.Params)
	results := set.Evaluate(ctx, in, make([]policies.PolicyResult, 0, len(set.Policies())))
	verdict := set.Decide(results)
	rec.AddPolicyResults(set, results)
	resp := admission.Allowed("")
	if !verdict.Allowed {
		resp = admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
			Status: metav1.StatusFailure, Message: verdict.Message, Reason: verdict.Reason, Code: verdict.Code,
		}}}
	}
	resp.Warnings = verdict.Warnings
	resp.AuditAnnotations = verdict.AuditAnnotations
	return resp
}

// denyInvalid denies with an Invalid status whose causes carry each field
// path, so clients see every error at once.
func denyInvalid(gk schema.GroupKind, name string, errs field.ErrorList) admission.Response {
	status := apierrors.NewInvalid(gk, name, errs).ErrStatus
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &status}}
}
