package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
	"github.com/podvirt/podvirt/webhooks/vmirules"
)

// ValidateVMPath is where VirtualMachine admission is served.
const ValidateVMPath = "/validate-vm"

var (
	vmRunningPath      = field.NewPath("spec", "running")
	vmTemplateMetaPath = field.NewPath("spec", "template", "metadata")
)

// VMValidator answers /validate-vm. It refuses a VM that sets both
// spec.running and spec.runStrategy, and judges the VMI the VM would
// create as the VMI webhooks would: its template defaulted by
// vmirules.Default, checked by vmirules.Validate (errors re-rooted under
// spec.template), then every matching VMIPolicy with that VMI as `object`,
// evaluated as its CREATE by the requesting user. An update that leaves
// the template alone (start, stop: only the run strategy changes) is not
// judged again: a policy added since must not keep a VM from being
// stopped, and the VMI is judged anyway when it is created.
type VMValidator struct {
	// Policies holds the compiled VMIPolicies; nil evaluates none.
	Policies *policies.Cache
	// Namespaces and NamespacesLive read the VM's Namespace, as for
	// VMIValidator.
	Namespaces     client.Reader
	NamespacesLive client.Reader
	// Params resolves paramRef.
	Params policies.ParamSource
}

// Handle implements admission.Handler.
func (h *VMValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	vm, err := decodeVM(req.Object.Raw)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the VirtualMachine: %w", err))
	}
	judgeTemplate := vm.DeletionTimestamp == nil
	if req.Operation == admissionv1.Update {
		old, err := decodeVM(req.OldObject.Raw)
		if err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the old VirtualMachine: %w", err))
		}
		judgeTemplate = judgeTemplate && !equality.Semantic.DeepEqual(old.Spec.Template, vm.Spec.Template)
	}
	rec := RecordFromContext(ctx)
	var vmi *v1alpha1.VirtualMachineInstance
	var errs field.ErrorList
	if judgeTemplate {
		vmi, errs = ValidateVM(vm)
	} else {
		errs = validateRunStrategy(vm)
	}
	if len(errs) > 0 {
		rec.AddPolicy(BuiltinValidation, "Deny", false, errs.ToAggregate().Error())
		return denyInvalid(v1alpha1.GroupVersion.WithKind("VirtualMachine").GroupKind(), vm.Name, errs)
	}
	rec.AddPolicy(BuiltinValidation, "Deny", true, "")
	if vmi == nil {
		return admission.Allowed("the template is unchanged: VMIPolicies are not evaluated")
	}
	raw, err := json.Marshal(vmi)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encoding the VMI of the template: %w", err))
	}
	object, err := policies.DecodeObject(raw)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("decoding the VMI of the template for the VMIPolicies: %w", err))
	}
	user := &policies.RequestUser{Username: req.UserInfo.Username, UID: req.UserInfo.UID, Groups: req.UserInfo.Groups}
	engine := policyEngine{Policies: h.Policies, Namespaces: h.Namespaces, NamespacesLive: h.NamespacesLive}
	return engine.evaluate(ctx, req.Namespace, func(ns *corev1.Namespace) *policies.Input {
		return policies.NewInputFromObjects(admissionv1.Create, object, nil, ns, user, h.Params)
	}, rec)
}

// ValidateVM is what /validate-vm holds a new VirtualMachine, or one
// whose template changed, to before the VMIPolicies: running and
// runStrategy not both, the template's labels and annotations, and the VMI
// it would create (vm.NewVMIFromTemplate, as the VM controller makes it)
// defaulted and validated as the VMI webhooks would, its errors under
// spec.template. It returns that defaulted VMI; `podvirtctl render` runs
// it offline.
func ValidateVM(vm *v1alpha1.VirtualMachine) (*v1alpha1.VirtualMachineInstance, field.ErrorList) {
	errs := validateRunStrategy(vm)
	vmi := vm.NewVMIFromTemplate()
	vmirules.Default(vmi)
	errs = append(errs, validateTemplateMeta(vm)...)
	errs = append(errs, reRootAtTemplate(vmirules.Validate(vmi))...)
	return vmi, errs
}

// decodeVM parses a VirtualMachine, requiring apiVersion and kind to name
// one.
func decodeVM(raw []byte) (*v1alpha1.VirtualMachine, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("there is no content to decode")
	}
	vm := &v1alpha1.VirtualMachine{}
	if err := json.Unmarshal(raw, vm); err != nil {
		return nil, err
	}
	if vm.APIVersion != v1alpha1.GroupVersion.String() || vm.Kind != "VirtualMachine" {
		return nil, fmt.Errorf("apiVersion %q, kind %q: want %s, VirtualMachine", vm.APIVersion, vm.Kind, v1alpha1.GroupVersion)
	}
	return vm, nil
}

// validateRunStrategy refuses both ways of saying whether the VM runs.
func validateRunStrategy(vm *v1alpha1.VirtualMachine) field.ErrorList {
	if vm.Spec.Running != nil && vm.Spec.RunStrategy != nil {
		return field.ErrorList{field.Invalid(vmRunningPath, *vm.Spec.Running,
			fmt.Sprintf("running and runStrategy are mutually exclusive: remove running (deprecated) and keep runStrategy %s", *vm.Spec.RunStrategy))}
	}
	return nil
}

// validateTemplateMeta checks the labels and annotations the VMI gets.
func validateTemplateMeta(vm *v1alpha1.VirtualMachine) field.ErrorList {
	m := vm.Spec.Template.Metadata
	errs := metav1validation.ValidateLabels(m.Labels, vmTemplateMetaPath.Child("labels"))
	return append(errs, apivalidation.ValidateAnnotations(m.Annotations, vmTemplateMetaPath.Child("annotations"))...)
}

// reRootAtTemplate moves the VMI's spec errors under spec.template: the
// VMI's spec.domain is the VM's spec.template.spec.domain. Errors on
// metadata.name stay: the VMI is named as the VM.
func reRootAtTemplate(errs field.ErrorList) field.ErrorList {
	for _, e := range errs {
		if e.Field == "spec" || strings.HasPrefix(e.Field, "spec.") || strings.HasPrefix(e.Field, "spec[") {
			e.Field = "spec.template." + e.Field
		}
	}
	return errs
}
