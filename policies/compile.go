package policies

import (
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/podvirt/podvirt/crds/v1alpha1"
)

// CompiledPolicy is a VMIPolicy ready to evaluate: every expression
// type-checked and planned, selectors parsed, inline params decoded. It is
// immutable and safe for concurrent use.
type CompiledPolicy struct {
	// Name, UID and Generation identify the policy version compiled.
	Name       string
	UID        types.UID
	Generation int64

	match         matchConstraints
	failurePolicy admissionregistrationv1.FailurePolicyType
	actions       []admissionregistrationv1.ValidationAction

	hasParams     bool
	inlineParams  *Object
	paramKind     *admissionregistrationv1.ParamKind
	paramRef      *admissionregistrationv1.ParamRef
	paramSelector labels.Selector

	matchConditions  []namedExpression
	variables        []namedExpression
	validations      []compiledValidation
	auditAnnotations []namedExpression

	// errs are the compile errors; a policy with errors is not evaluated
	// and its failurePolicy applies to every request it matches.
	errs field.ErrorList
	// untracked[t] reports that no evaluation of an object of size tier t
	// can reach a cost limit, so it may run without cost tracking.
	untracked [len(sizeTiers)]bool
	// validationsMaxCost[t] is the worst-case cost of all validations (and
	// the variables they may use) for size tier t.
	validationsMaxCost [len(sizeTiers)]uint64
	costs              []EstimatedCost
}

// namedExpression is a compiled matchCondition, variable or audit
// annotation (name is its name or key).
type namedExpression struct {
	name string
	expr *expression
}

// compiledValidation is one compiled validation.
type compiledValidation struct {
	expr              *expression
	message           string
	messageExpression *expression
	reason            metav1.StatusReason
}

// Errors returns the policy's compile errors, empty when it compiled.
func (p *CompiledPolicy) Errors() field.ErrorList { return p.errs }

// Costs returns the static worst-case cost of every expression.
func (p *CompiledPolicy) Costs() []EstimatedCost { return p.costs }

// Compile compiles a stored policy for evaluation. It always returns a
// CompiledPolicy; when the returned list is not empty the policy is
// broken (see CompiledPolicy.Errors). Expressions are compiled in the CEL
// environment for stored expressions, as kube-apiserver does at run time.
func (c *Compiler) Compile(policy *v1alpha1.VMIPolicy) (*CompiledPolicy, field.ErrorList) {
	p := c.compile(policy, func(string) environment.Type { return environment.StoredExpressions })
	return p, p.errs
}

// Validate checks a VMIPolicy being created (old nil) or updated, as
// kube-apiserver validates a ValidatingAdmissionPolicy and its binding:
// structure, selectors, and every expression compiled and type-checked
// against the VMI schema. New expressions must compile in the environment
// for new expressions; expressions already present in old only in the one
// for stored expressions. Use it in the VMIPolicy admission webhook.
func (c *Compiler) Validate(policy, old *v1alpha1.VMIPolicy) field.ErrorList {
	existing := sets.New[string]()
	if old != nil {
		for _, e := range policyExpressions(&old.Spec) {
			existing.Insert(e)
		}
	}
	p := c.compile(policy, func(expr string) environment.Type {
		if existing.Has(expr) {
			return environment.StoredExpressions
		}
		return environment.NewExpressions
	})
	return p.errs
}

// policyExpressions lists every expression of a policy.
func policyExpressions(spec *v1alpha1.VMIPolicySpec) []string {
	var out []string
	for _, m := range spec.MatchConditions {
		out = append(out, m.Expression)
	}
	for _, v := range spec.Variables {
		out = append(out, v.Expression)
	}
	for _, v := range spec.Validations {
		out = append(out, v.Expression, v.MessageExpression)
	}
	for _, a := range spec.AuditAnnotations {
		out = append(out, a.ValueExpression)
	}
	return out
}

func (c *Compiler) compile(policy *v1alpha1.VMIPolicy, envType func(expr string) environment.Type) *CompiledPolicy {
	spec := &policy.Spec
	specPath := field.NewPath("spec")
	p := &CompiledPolicy{
		Name:          policy.Name,
		UID:           policy.UID,
		Generation:    policy.Generation,
		failurePolicy: admissionregistrationv1.Fail,
		paramKind:     spec.ParamKind.DeepCopy(),
		paramRef:      spec.ParamRef.DeepCopy(),
	}
	if spec.FailurePolicy != nil {
		p.failurePolicy = *spec.FailurePolicy
	}
	p.errs = append(p.errs, validateStructure(policy)...)

	var err error
	if p.match, err = compileMatchConstraints(spec.MatchConstraints); err != nil {
		p.errs = append(p.errs, field.Invalid(specPath.Child("matchConstraints"), spec.MatchConstraints, err.Error()))
	}
	p.actions = spec.ValidationActions
	if len(p.actions) == 0 {
		p.actions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}
	}
	if spec.Params != nil && len(spec.Params.Raw) > 0 {
		if p.inlineParams, err = DecodeObject(spec.Params.Raw); err != nil {
			p.errs = append(p.errs, field.Invalid(specPath.Child("params"), string(spec.Params.Raw), err.Error()))
		} else if p.inlineParams.root.kind != kindObject {
			p.errs = append(p.errs, field.Invalid(specPath.Child("params"), string(spec.Params.Raw), "must be an object"))
		}
	}
	if spec.ParamRef != nil && spec.ParamRef.Selector != nil {
		if p.paramSelector, err = metav1.LabelSelectorAsSelector(spec.ParamRef.Selector); err != nil {
			p.errs = append(p.errs, field.Invalid(specPath.Child("paramRef", "selector"), spec.ParamRef.Selector, err.Error()))
		}
	}
	p.hasParams = spec.ParamKind != nil || spec.ParamRef != nil || spec.Params != nil

	envs, err := c.newPolicyEnvs(p.hasParams)
	if err != nil {
		p.errs = append(p.errs, field.InternalError(specPath, err))
		return p
	}
	x := &exprCompiler{c: c, sizes: &sizeEstimator{objectType: c.objectType, params: p.inlineParams, variables: map[string]*sizedExpr{}}}
	compileOne := func(set *environment.EnvSet, source string, path *field.Path, returnTypes ...*cel.Type) *expression {
		if strings.TrimSpace(source) == "" {
			return nil // reported by validateStructure
		}
		env, err := set.Env(envType(source))
		if err != nil {
			p.errs = append(p.errs, field.InternalError(path, fmt.Errorf("building the CEL environment: %w", err)))
			return nil
		}
		e, celErr := x.compile(env, source, returnTypes...)
		if celErr != nil {
			p.errs = append(p.errs, celErrorToFieldError(path, source, celErr))
			return nil
		}
		p.costs = append(p.costs, EstimatedCost{
			FieldRef:            path.String(),
			Max:                 e.maxCost[len(sizeTiers)-1],
			MaxSmallObject:      e.maxCost[1],
			ExceedsPerCallLimit: e.maxCost[len(sizeTiers)-1] > celconfig.PerCallLimit,
		})
		return e
	}

	for i, v := range spec.Variables {
		path := specPath.Child("variables").Index(i).Child("expression")
		e := compileOne(envs.composited, v.Expression, path)
		var out *cel.Type
		if e != nil {
			out = e.checked.OutputType()
		}
		envs.addVariable(v.Name, out)
		if e != nil {
			x.sizes.variables[v.Name] = newSizedExpr(e.checked.NativeRep())
		}
		p.variables = append(p.variables, namedExpression{name: v.Name, expr: e})
	}
	for i, m := range spec.MatchConditions {
		path := specPath.Child("matchConditions").Index(i).Child("expression")
		e := compileOne(envs.plain, m.Expression, path, cel.BoolType)
		p.matchConditions = append(p.matchConditions, namedExpression{name: m.Name, expr: e})
	}
	for i, v := range spec.Validations {
		path := specPath.Child("validations").Index(i)
		cv := compiledValidation{
			expr:    compileOne(envs.composited, v.Expression, path.Child("expression"), cel.BoolType),
			message: v.Message,
			reason:  metav1.StatusReasonInvalid,
		}
		if v.Reason != nil {
			cv.reason = *v.Reason
		}
		if strings.TrimSpace(v.MessageExpression) != "" {
			cv.messageExpression = compileOne(envs.composited, v.MessageExpression, path.Child("messageExpression"), cel.StringType)
		}
		p.validations = append(p.validations, cv)
	}
	for i, a := range spec.AuditAnnotations {
		path := specPath.Child("auditAnnotations").Index(i).Child("valueExpression")
		e := compileOne(envs.composited, a.ValueExpression, path, cel.StringType, cel.NullType)
		p.auditAnnotations = append(p.auditAnnotations, namedExpression{name: a.Key, expr: e})
	}
	p.decideCostTracking()
	return p
}

// decideCostTracking marks the size tiers for which the worst-case cost
// of every expression stays within the per-call limit and the sums within
// the per-evaluation budgets of a ValidatingAdmissionPolicy.
func (p *CompiledPolicy) decideCostTracking() {
	for t := range sizeTiers {
		ok := true
		var conditions, validations, annotations uint64
		add := func(sum *uint64, e *expression) {
			if e == nil {
				return
			}
			c := e.maxCost[t]
			if c > celconfig.PerCallLimit {
				ok = false
			}
			*sum = saturatingAdd(*sum, c)
		}
		for _, m := range p.matchConditions {
			add(&conditions, m.expr)
		}
		for _, v := range p.variables {
			// A variable may be evaluated once per phase.
			add(&conditions, v.expr)
			add(&validations, v.expr)
			add(&annotations, v.expr)
		}
		for _, v := range p.validations {
			// Message expressions run, cost-tracked, only when their
			// validation fails (see evaluation.message).
			add(&validations, v.expr)
		}
		for _, a := range p.auditAnnotations {
			add(&annotations, a.expr)
		}
		p.validationsMaxCost[t] = validations
		p.untracked[t] = ok &&
			conditions <= celconfig.RuntimeCELCostBudgetMatchConditions &&
			validations <= celconfig.RuntimeCELCostBudget &&
			annotations <= celconfig.RuntimeCELCostBudget
	}
}

func saturatingAdd(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

// celErrorToFieldError converts a compile error as Kubernetes does for a
// ValidatingAdmissionPolicy: "<path>: Invalid value: <expression>:
// compilation failed: ERROR: <input>:1:15: ...".
func celErrorToFieldError(path *field.Path, source string, err *apiservercel.Error) *field.Error {
	switch err.Type {
	case apiservercel.ErrorTypeRequired:
		return field.Required(path, err.Detail)
	case apiservercel.ErrorTypeInvalid:
		return field.Invalid(path, source, err.Detail)
	default:
		return field.InternalError(path, err)
	}
}

// Actions are the policy's validationActions.
func (p *CompiledPolicy) Actions() []admissionregistrationv1.ValidationAction { return p.actions }
