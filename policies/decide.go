package policies

import (
	"encoding/json"
	"fmt"
	"net/http"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Verdict is the admission decision of every policy together.
type Verdict struct {
	// Allowed is false when a policy denies.
	Allowed bool
	// Message is the first denial, "VMIPolicy '<name>' denied request:
	// <message>".
	Message string
	// Reason and Code are the first denial's status reason and HTTP code.
	Reason metav1.StatusReason
	Code   int32
	// Warnings are every policy's warnings.
	Warnings []string
	// AuditAnnotations are the policies' audit annotations, plus
	// validation.policy.admission.k8s.io/validation_failure for the
	// failures with the Audit action.
	AuditAnnotations map[string]string
}

// ValidationFailureAnnotation is the audit annotation key listing the
// failures with the Audit action, as for ValidatingAdmissionPolicies.
const ValidationFailureAnnotation = "validation.policy.admission.k8s.io/validation_failure"

// validationFailure is one entry of ValidationFailureAnnotation.
type validationFailure struct {
	Message           string                                     `json:"message"`
	Policy            string                                     `json:"policy"`
	Binding           string                                     `json:"binding"`
	ExpressionIndex   int                                        `json:"expressionIndex"`
	ValidationActions []admissionregistrationv1.ValidationAction `json:"validationActions"`
}

// maxValidationFailures caps the failures listed in the audit annotation.
const maxValidationFailures = 50

// Decide combines policy results into the admission decision, as
// kube-apiserver combines ValidatingAdmissionPolicies: the first denial
// wins; warnings and audit annotations accumulate.
func Decide(results []PolicyResult, policies map[string]*CompiledPolicy) Verdict {
	v := Verdict{Allowed: true}
	var failures []validationFailure
	for i := range results {
		r := &results[i]
		v.Warnings = append(v.Warnings, r.Warnings...)
		for _, a := range r.AuditAnnotations {
			if v.AuditAnnotations == nil {
				v.AuditAnnotations = map[string]string{}
			}
			if old, ok := v.AuditAnnotations[a.Key]; ok {
				v.AuditAnnotations[a.Key] = old + ", " + a.Value
			} else {
				v.AuditAnnotations[a.Key] = a.Value
			}
		}
		for _, viol := range r.Violations {
			if viol.Audits {
				var actions []admissionregistrationv1.ValidationAction
				if p := policies[r.Policy]; p != nil {
					actions = p.actions
				}
				failures = append(failures, validationFailure{
					Message: viol.Message, Policy: r.Policy, Binding: r.Policy,
					ExpressionIndex: viol.Validation, ValidationActions: actions,
				})
			}
			if viol.Denies && v.Allowed {
				v.Allowed = false
				v.Message = fmt.Sprintf("VMIPolicy '%s' denied request: %s", r.Policy, viol.Message)
				v.Reason = viol.Reason
				if v.Reason == "" {
					v.Reason = metav1.StatusReasonInvalid
				}
				v.Code = reasonToCode(v.Reason)
			}
		}
	}
	if len(failures) > 0 {
		if len(failures) > maxValidationFailures {
			failures = failures[:maxValidationFailures]
		}
		if raw, err := json.Marshal(failures); err == nil {
			if v.AuditAnnotations == nil {
				v.AuditAnnotations = map[string]string{}
			}
			v.AuditAnnotations[ValidationFailureAnnotation] = string(raw)
		}
	}
	return v
}

// reasonToCode is the HTTP status of a denial reason.
func reasonToCode(r metav1.StatusReason) int32 {
	switch r {
	case metav1.StatusReasonForbidden:
		return http.StatusForbidden
	case metav1.StatusReasonUnauthorized:
		return http.StatusUnauthorized
	case metav1.StatusReasonRequestEntityTooLarge:
		return http.StatusRequestEntityTooLarge
	default:
		return http.StatusUnprocessableEntity
	}
}
