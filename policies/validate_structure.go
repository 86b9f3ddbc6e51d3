package policies

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvirt/podvirt/crds/v1alpha1"
)

// Limits from ValidatingAdmissionPolicy validation.
const (
	// MaxMatchConditions is the most matchConditions a policy may have.
	MaxMatchConditions = 64
	// maxAuditAnnotationValueExpressionLength bounds valueExpression.
	maxAuditAnnotationValueExpressionLength = 5 * 1024
)

// supportedReasons are the reasons a validation may give.
var supportedReasons = []string{
	string(metav1.StatusReasonForbidden),
	string(metav1.StatusReasonInvalid),
	string(metav1.StatusReasonRequestEntityTooLarge),
}

// validateStructure checks what the CRD schema cannot, with the messages
// of ValidatingAdmissionPolicy validation.
func validateStructure(policy *v1alpha1.VMIPolicy) field.ErrorList {
	var errs field.ErrorList
	spec := &policy.Spec
	specPath := field.NewPath("spec")

	if len(spec.Validations) == 0 && len(spec.AuditAnnotations) == 0 {
		errs = append(errs, field.Required(specPath.Child("validations"), "validations or auditAnnotations must contain at least one item"))
	}

	// matchConditions
	mcPath := specPath.Child("matchConditions")
	if len(spec.MatchConditions) > MaxMatchConditions {
		errs = append(errs, field.TooMany(mcPath, len(spec.MatchConditions), MaxMatchConditions))
	}
	names := sets.New[string]()
	for i, m := range spec.MatchConditions {
		path := mcPath.Index(i)
		if strings.TrimSpace(m.Expression) == "" {
			errs = append(errs, field.Required(path.Child("expression"), ""))
		}
		if m.Name == "" {
			errs = append(errs, field.Required(path.Child("name"), ""))
		} else {
			errs = append(errs, validateQualifiedName(m.Name, path.Child("name"))...)
			if names.Has(m.Name) {
				errs = append(errs, field.Duplicate(path.Child("name"), m.Name))
			}
			names.Insert(m.Name)
		}
	}

	// variables
	names = sets.New[string]()
	for i, v := range spec.Variables {
		path := specPath.Child("variables").Index(i)
		if strings.TrimSpace(v.Name) == "" {
			errs = append(errs, field.Required(path.Child("name"), "name is not specified"))
		} else {
			if !isCELIdentifier(v.Name) {
				errs = append(errs, field.Invalid(path.Child("name"), v.Name, "must be a valid CEL identifier"))
			}
			if names.Has(v.Name) {
				errs = append(errs, field.Duplicate(path.Child("name"), v.Name))
			}
			names.Insert(v.Name)
		}
		if strings.TrimSpace(v.Expression) == "" {
			errs = append(errs, field.Required(path.Child("expression"), "expression is not specified"))
		}
	}

	// validations
	for i, v := range spec.Validations {
		path := specPath.Child("validations").Index(i)
		if strings.TrimSpace(v.Expression) == "" {
			errs = append(errs, field.Required(path.Child("expression"), "expression is not specified"))
		}
		if len(v.MessageExpression) > 0 && strings.TrimSpace(v.MessageExpression) == "" {
			errs = append(errs, field.Invalid(path.Child("messageExpression"), v.MessageExpression, "must be non-empty if specified"))
		}
		msg := strings.TrimSpace(v.Message)
		if len(v.Message) > 0 && msg == "" {
			errs = append(errs, field.Invalid(path.Child("message"), v.Message, "must be non-empty if specified"))
		} else if strings.ContainsAny(msg, "\n") {
			errs = append(errs, field.Invalid(path.Child("message"), v.Message, "must not contain line breaks"))
		}
		if v.Reason != nil && !sets.New(supportedReasons...).Has(string(*v.Reason)) {
			errs = append(errs, field.NotSupported(path.Child("reason"), *v.Reason, supportedReasons))
		}
	}

	// auditAnnotations
	keys := sets.New[string]()
	for i, a := range spec.AuditAnnotations {
		path := specPath.Child("auditAnnotations").Index(i)
		if policy.Name != "" {
			errs = append(errs, validateQualifiedName(policy.Name+"/"+a.Key, path.Child("key"))...)
		} else {
			errs = append(errs, field.Invalid(path.Child("key"), a.Key, "requires metadata.name be non-empty"))
		}
		if keys.Has(a.Key) {
			errs = append(errs, field.Duplicate(path.Child("key"), a.Key))
		}
		keys.Insert(a.Key)
		trimmed := strings.TrimSpace(a.ValueExpression)
		if trimmed == "" {
			errs = append(errs, field.Required(path.Child("valueExpression"), "valueExpression is not specified"))
		} else if len(trimmed) > maxAuditAnnotationValueExpressionLength {
			errs = append(errs, field.Required(path.Child("valueExpression"), fmt.Sprintf("must not exceed %d bytes in length", maxAuditAnnotationValueExpressionLength)))
		}
	}

	// failurePolicy and validationActions
	if fp := spec.FailurePolicy; fp != nil && *fp != admissionregistrationv1.Fail && *fp != admissionregistrationv1.Ignore {
		errs = append(errs, field.NotSupported(specPath.Child("failurePolicy"), *fp, []string{string(admissionregistrationv1.Fail), string(admissionregistrationv1.Ignore)}))
	}
	actions := sets.New[admissionregistrationv1.ValidationAction]()
	validActions := []string{string(admissionregistrationv1.Audit), string(admissionregistrationv1.Deny), string(admissionregistrationv1.Warn)}
	for i, a := range spec.ValidationActions {
		path := specPath.Child("validationActions").Index(i)
		switch a {
		case admissionregistrationv1.Deny, admissionregistrationv1.Warn, admissionregistrationv1.Audit:
		default:
			errs = append(errs, field.NotSupported(path, a, validActions))
		}
		if actions.Has(a) {
			errs = append(errs, field.Duplicate(path, a))
		}
		actions.Insert(a)
	}
	if actions.Has(admissionregistrationv1.Deny) && actions.Has(admissionregistrationv1.Warn) {
		errs = append(errs, field.Invalid(specPath.Child("validationActions"), spec.ValidationActions, "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)"))
	}

	// parameters
	if spec.ParamRef != nil && spec.Params != nil {
		errs = append(errs, field.Forbidden(specPath.Child("params"), "params and paramRef are mutually exclusive"))
	}
	if (spec.ParamRef == nil) != (spec.ParamKind == nil) {
		errs = append(errs, field.Required(specPath.Child("paramKind"), "paramKind and paramRef must be set together"))
	}
	if pk := spec.ParamKind; pk != nil {
		if pk.Kind == "" {
			errs = append(errs, field.Required(specPath.Child("paramKind", "kind"), ""))
		}
		if pk.APIVersion == "" {
			errs = append(errs, field.Required(specPath.Child("paramKind", "apiVersion"), ""))
		}
	}
	if pr := spec.ParamRef; pr != nil {
		path := specPath.Child("paramRef")
		if pr.Name != "" && pr.Selector != nil {
			errs = append(errs, field.Forbidden(path.Child("name"), "name and selector are mutually exclusive"))
		}
		if pr.Name == "" && pr.Selector == nil {
			errs = append(errs, field.Required(path, "one of name or selector must be specified"))
		}
		if pr.Selector != nil {
			errs = append(errs, metav1validation.ValidateLabelSelector(pr.Selector, metav1validation.LabelSelectorValidationOptions{}, path.Child("selector"))...)
		}
		switch {
		case pr.ParameterNotFoundAction == nil || *pr.ParameterNotFoundAction == "":
			errs = append(errs, field.Required(path.Child("parameterNotFoundAction"), ""))
		case *pr.ParameterNotFoundAction != admissionregistrationv1.DenyAction && *pr.ParameterNotFoundAction != admissionregistrationv1.AllowAction:
			errs = append(errs, field.NotSupported(path.Child("parameterNotFoundAction"), *pr.ParameterNotFoundAction, []string{string(admissionregistrationv1.DenyAction), string(admissionregistrationv1.AllowAction)}))
		}
	}

	// matchConstraints
	if mc := spec.MatchConstraints; mc != nil {
		path := specPath.Child("matchConstraints")
		for i, op := range mc.Operations {
			switch op {
			case admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.OperationAll:
			default:
				errs = append(errs, field.NotSupported(path.Child("operations").Index(i), op, []string{"CREATE", "UPDATE", "*"}))
			}
		}
		if mc.NamespaceSelector != nil {
			errs = append(errs, metav1validation.ValidateLabelSelector(mc.NamespaceSelector, metav1validation.LabelSelectorValidationOptions{}, path.Child("namespaceSelector"))...)
		}
		if mc.ObjectSelector != nil {
			errs = append(errs, metav1validation.ValidateLabelSelector(mc.ObjectSelector, metav1validation.LabelSelectorValidationOptions{}, path.Child("objectSelector"))...)
		}
	}
	return errs
}

// celReserved are the words CEL reserves.
var celReserved = []string{"true", "false", "null", "in", "as", "break", "const", "continue", "else",
	"for", "function", "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"}

// isCELIdentifier reports whether name is a CEL identifier:
// [_a-zA-Z][_a-zA-Z0-9]* and not reserved.
func isCELIdentifier(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		letter := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		digit := r >= '0' && r <= '9'
		if !letter && (i == 0 || !digit) {
			return false
		}
	}
	for _, w := range celReserved {
		if name == w {
			return false
		}
	}
	return true
}

// validateQualifiedName checks a qualified name (prefix/name), as
// Kubernetes validates label keys and matchCondition names.
func validateQualifiedName(name string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range content.IsLabelKey(name) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	return errs
}
