package v1alpha1

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// VMIPolicy is a CEL policy for VirtualMachineInstances: the
// ValidatingAdmissionPolicy model (policy and binding in one object), aimed
// at VMIs. Its expressions see what a ValidatingAdmissionPolicy's see:
// object, oldObject, request, params, namespaceObject and variables, with
// object and oldObject typed from the VirtualMachineInstance schema, so a
// misspelt field is a rejected policy rather than a silent pass.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=vmipol,categories=podvirt
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Violations",type=integer,JSONPath=`.status.audit.violations`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VMIPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the policy.
	Spec VMIPolicySpec `json:"spec"`

	// Status is what podvirt observed of the policy: whether it compiled and
	// what the background audit of existing VMIs found.
	// +optional
	Status VMIPolicyStatus `json:"status,omitempty"`
}

// VMIPolicyList is a list of VMIPolicies.
//
// +kubebuilder:object:root=true
type VMIPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VMIPolicy `json:"items"`
}

// VMIPolicySpec is a ValidatingAdmissionPolicy's spec together with its
// binding's paramRef and validationActions.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.paramRef) && has(self.params))",message="paramRef and params are mutually exclusive"
// +kubebuilder:validation:XValidation:rule="has(self.paramRef) == has(self.paramKind)",message="paramKind and paramRef must be set together"
// +kubebuilder:validation:XValidation:rule="(has(self.validations) && size(self.validations) > 0) || (has(self.auditAnnotations) && size(self.auditAnnotations) > 0)",message="at least one of validations or auditAnnotations is required"
// +kubebuilder:validation:XValidation:rule="!has(self.validationActions) || !(self.validationActions.exists(a, a == 'Deny') && self.validationActions.exists(a, a == 'Warn'))",message="validationActions must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)"
type VMIPolicySpec struct {
	// MatchConstraints narrows the VMIs the policy applies to. When unset
	// the policy applies to every VMI create and update.
	// +optional
	MatchConstraints *VMIMatchConstraints `json:"matchConstraints,omitempty"`

	// MatchConditions are CEL expressions that must all be true for the
	// policy to be evaluated; a false condition skips the policy. As in a
	// ValidatingAdmissionPolicy, an evaluation error follows failurePolicy.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	MatchConditions []admissionregistrationv1.MatchCondition `json:"matchConditions,omitempty"`

	// ParamKind is the kind of the object paramRef names, for example
	// {apiVersion: v1, kind: ConfigMap}. Required with paramRef.
	// +optional
	ParamKind *admissionregistrationv1.ParamKind `json:"paramKind,omitempty"`

	// ParamRef selects the object(s) bound to `params`, as in a
	// ValidatingAdmissionPolicyBinding: by name or label selector, in
	// namespace (the VMI's namespace when empty), and what to do when none is
	// found. Mutually exclusive with params.
	// +kubebuilder:validation:XValidation:rule="has(self.name) != has(self.selector)",message="exactly one of name or selector must be set"
	// +kubebuilder:validation:XValidation:rule="has(self.parameterNotFoundAction)",message="parameterNotFoundAction is required"
	// +kubebuilder:validation:XValidation:rule="!has(self.parameterNotFoundAction) || self.parameterNotFoundAction in ['Allow', 'Deny']",message="parameterNotFoundAction must be Allow or Deny"
	// +optional
	ParamRef *admissionregistrationv1.ParamRef `json:"paramRef,omitempty"`

	// Params is an inline parameter object bound to `params`, for policies
	// whose parameters live with the policy. Mutually exclusive with
	// paramRef.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	// +optional
	Params *runtime.RawExtension `json:"params,omitempty"`

	// Variables are named CEL expressions available to later variables,
	// validations and messages as `variables.<name>`, evaluated lazily and
	// at most once per evaluation.
	// +listType=map
	// +listMapKey=name
	// +optional
	Variables []admissionregistrationv1.Variable `json:"variables,omitempty"`

	// Validations are the CEL expressions a VMI must satisfy.
	// +listType=atomic
	// +optional
	Validations []admissionregistrationv1.Validation `json:"validations,omitempty"`

	// AuditAnnotations are CEL expressions whose values are added to the
	// audit event of the admission request.
	// +listType=atomic
	// +optional
	AuditAnnotations []admissionregistrationv1.AuditAnnotation `json:"auditAnnotations,omitempty"`

	// FailurePolicy is what happens when an expression fails at run time or
	// the policy is misconfigured: Fail denies the request, Ignore skips the
	// failing expression. Defaults to Fail.
	// +kubebuilder:validation:Enum=Fail;Ignore
	// +kubebuilder:default=Fail
	// +optional
	FailurePolicy *admissionregistrationv1.FailurePolicyType `json:"failurePolicy,omitempty"`

	// ValidationActions are what a failed validation does: Deny rejects the
	// request, Warn returns a warning to the client, Audit records the
	// failure in the audit event. Deny and Warn may not be combined.
	// Defaults to [Deny].
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=3
	// +kubebuilder:validation:items:Enum=Deny;Warn;Audit
	// +kubebuilder:default={Deny}
	// +optional
	ValidationActions []admissionregistrationv1.ValidationAction `json:"validationActions,omitempty"`
}

// VMIMatchConstraints narrows the VMI requests a policy applies to.
type VMIMatchConstraints struct {
	// NamespaceSelector selects the namespaces whose VMIs the policy applies
	// to, by the namespace's labels. Unset or empty selects every namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// ObjectSelector selects VMIs by their labels (the new object's, or the
	// old object's on update). Unset or empty selects every VMI.
	// +optional
	ObjectSelector *metav1.LabelSelector `json:"objectSelector,omitempty"`

	// Operations are the operations the policy applies to: CREATE, UPDATE
	// or * for both. Defaults to both.
	// +listType=set
	// +kubebuilder:validation:MaxItems=3
	// +kubebuilder:validation:items:Enum=CREATE;UPDATE;"*"
	// +optional
	Operations []admissionregistrationv1.OperationType `json:"operations,omitempty"`
}

// Condition types and reasons of a VMIPolicy. The Ready condition type is
// ConditionReady.
const (
	// ReasonCompiled: every expression compiled and type-checked.
	ReasonCompiled = "Compiled"
	// ReasonCompileFailed: at least one expression did not compile; see
	// status.compileErrors. The policy is not enforced (its failurePolicy
	// applies to every matching request).
	ReasonCompileFailed = "CompileFailed"
)

// VMIPolicyStatus is what podvirt observed of a VMIPolicy.
type VMIPolicyStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready is True when every expression compiled.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// CompileErrors are the expressions of this generation that did not
	// compile or type-check, with the compiler's message and position.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +optional
	CompileErrors []ExpressionError `json:"compileErrors,omitempty"`

	// Audit is the result of the last background evaluation of the VMIs that
	// already exist.
	// +optional
	Audit *VMIPolicyAuditStatus `json:"audit,omitempty"`
}

// ExpressionError is one expression that failed to compile.
type ExpressionError struct {
	// FieldRef is the path of the expression, e.g.
	// spec.validations[0].expression.
	FieldRef string `json:"fieldRef"`
	// Message is the compiler's message, with the line and column.
	Message string `json:"message"`
}

// VMIPolicyAuditStatus is the result of evaluating a policy against the VMIs
// that already exist.
type VMIPolicyAuditStatus struct {
	// LastAuditTime is when the audit ran.
	// +optional
	LastAuditTime *metav1.Time `json:"lastAuditTime,omitempty"`
	// Violations is the number of existing VMIs the policy would reject or
	// warn about.
	Violations int32 `json:"violations"`
	// Results lists violating VMIs, capped at 100 entries.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Results []VMIPolicyViolation `json:"results,omitempty"`
}

// VMIPolicyViolation is one existing VMI that fails a policy.
type VMIPolicyViolation struct {
	// Namespace of the VMI.
	Namespace string `json:"namespace"`
	// Name of the VMI.
	Name string `json:"name"`
	// Message is the failed validation's message.
	Message string `json:"message"`
}

func init() {
	SchemeBuilder.Register(&VMIPolicy{}, &VMIPolicyList{})
}
