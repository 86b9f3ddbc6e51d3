package policies

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
)

// Outcome is what one policy concluded about one request.
type Outcome string

// Outcomes, from least to most severe.
const (
	// Skipped: the policy does not apply (matchConstraints, matchConditions,
	// no parameter object with parameterNotFoundAction Allow, or an error
	// under failurePolicy Ignore in matchConditions).
	Skipped Outcome = "skip"
	// Passed: every validation held.
	Passed Outcome = "pass"
	// Failed: at least one validation was false.
	Failed Outcome = "fail"
	// Errored: an expression failed at run time or the policy is broken;
	// failurePolicy decides whether that denies the request.
	Errored Outcome = "error"
)

// Violation is one failed validation or one error.
type Violation struct {
	// Validation is the index of the validation in spec.validations, or -1
	// for an error outside validations (match conditions, parameters,
	// audit annotations, compile errors).
	Validation int
	// Message is the validation's message, or the error.
	Message string
	// Reason is the status reason a denial carries.
	Reason metav1.StatusReason
	// Error is set when the violation is an error, not a false validation.
	Error bool
	// Denies reports that the violation denies the request: a failed
	// validation with the Deny action, or an error under failurePolicy Fail
	// (with Deny, or outside validations).
	Denies bool
	// Warns and Audits report the other validation actions applied.
	Warns, Audits bool
}

// AuditAnnotation is an audit annotation produced by a policy.
type AuditAnnotation struct {
	// Key is "<policy name>/<key>".
	Key   string
	Value string
}

// PolicyResult is one policy's conclusion about one request. A policy that
// passes allocates nothing.
type PolicyResult struct {
	Policy     string
	Outcome    Outcome
	Violations []Violation
	// Warnings are the messages for the client (validationActions Warn).
	Warnings         []string
	AuditAnnotations []AuditAnnotation
}

// Denied reports whether the policy denies the request.
func (r *PolicyResult) Denied() bool {
	for i := range r.Violations {
		if r.Violations[i].Denies {
			return true
		}
	}
	return false
}

// Evaluate runs the policy against a request: matchConstraints, parameter
// resolution, matchConditions, validations, messages and audit
// annotations, with the semantics, cost limits and messages of a
// ValidatingAdmissionPolicy and its binding. It never compiles.
func (p *CompiledPolicy) Evaluate(ctx context.Context, in *Input) PolicyResult {
	return p.evaluate(ctx, in, &evaluation{})
}

// evaluate is Evaluate with a reusable evaluation state.
func (p *CompiledPolicy) evaluate(ctx context.Context, in *Input, ev *evaluation) PolicyResult {
	res := PolicyResult{Policy: p.Name, Outcome: Skipped}
	if !p.match.matches(in) {
		return res
	}
	if len(p.errs) > 0 {
		p.configError(&res, "compilation error: "+p.errs.ToAggregate().Error())
		return res
	}
	switch {
	case p.inlineParams != nil:
		p.evaluateWithParams(ctx, in, p.inlineParams.Value(), &res, ev)
	case p.paramRef != nil && p.paramKind != nil:
		params, err := p.resolveParams(ctx, in)
		if err != nil {
			p.configError(&res, fmt.Errorf("failed to configure binding: %w", err).Error())
			return res
		}
		for _, param := range params {
			p.evaluateWithParams(ctx, in, param.Value(), &res, ev)
		}
	default:
		p.evaluateWithParams(ctx, in, types.NullValue, &res, ev)
	}
	return res
}

// resolveParams finds the parameter objects, as a binding's paramRef.
func (p *CompiledPolicy) resolveParams(ctx context.Context, in *Input) ([]*Object, error) {
	namespace := p.paramRef.Namespace
	if namespace == "" {
		namespace = in.requestNamespace()
	}
	var params []*Object
	if in.params != nil {
		var err error
		params, err = in.params.Params(ctx, *p.paramKind, namespace, p.paramRef.Name, p.paramSelector)
		if err != nil {
			return nil, err
		}
	}
	if len(params) == 0 && p.paramRef.ParameterNotFoundAction != nil &&
		*p.paramRef.ParameterNotFoundAction == admissionregistrationv1.DenyAction {
		return nil, errors.New("no params found for policy binding with `Deny` parameterNotFoundAction")
	}
	return params, nil
}

func (in *Input) requestNamespace() string {
	if ns := in.object.Namespace(); ns != "" {
		return ns
	}
	return in.oldObject.Namespace()
}

// configError records a misconfiguration: under failurePolicy Fail it
// denies the request whatever the validation actions.
func (p *CompiledPolicy) configError(res *PolicyResult, message string) {
	if p.failurePolicy == admissionregistrationv1.Ignore {
		return
	}
	res.Outcome = Errored
	res.Violations = append(res.Violations, Violation{
		Validation: -1, Message: message, Reason: metav1.StatusReasonInvalid, Error: true, Denies: true,
	})
}

// evaluation is the state of evaluating one policy with one parameter. It
// is reused from one policy to the next to save allocations.
type evaluation struct {
	ctx    context.Context
	policy *CompiledPolicy
	act    activation
	frame  *interpreter.ExecutionFrame
	vars   lazyVariables
	// values backs vars.values.
	values []ref.Val
	// track selects the cost-tracked programs; tier is the size tier of
	// the documents.
	track bool
	tier  int
}

// evaluateWithParams runs matchConditions, validations and audit
// annotations with one parameter value, as ValidatingAdmissionPolicy's
// validator does.
func (p *CompiledPolicy) evaluateWithParams(ctx context.Context, in *Input, params ref.Val, res *PolicyResult, ev *evaluation) {
	tier := in.tier
	if params != nil && p.paramRef != nil {
		if obj, ok := params.(interface{ docSize() int }); ok {
			tier = tierFor(max(in.size(), obj.docSize()))
		}
	}
	*ev = evaluation{ctx: ctx, policy: p, tier: tier, track: tier < 0 || !p.untracked[tier], values: ev.values[:0]}
	ev.act = activation{in: in, params: params}
	frame, err := interpreter.NewExecutionFrame(&ev.act)
	if err != nil {
		p.configError(res, err.Error())
		return
	}
	defer frame.Close()
	ev.frame = frame
	if len(p.variables) > 0 {
		for range p.variables {
			ev.values = append(ev.values, nil)
		}
		ev.vars = lazyVariables{ctx: ctx, policy: p, act: &ev.act, frame: frame, track: ev.track, values: ev.values}
		ev.act.variables = &ev.vars
	}

	// matchConditions see no namespaceObject, as in kube-apiserver.
	matched, err := ev.matchConditions()
	if err != nil {
		p.configError(res, err.Error())
		return
	}
	if !matched {
		return
	}
	if res.Outcome == Skipped {
		res.Outcome = Passed
	}
	ev.act.namespaceVisible = true
	ev.resetVariables()
	ev.validations(res)
	ev.resetVariables()
	ev.auditAnnotations(res)
}

// resetVariables forgets evaluated variables' costs between phases; their
// values stay, since they cannot change within an evaluation.
func (ev *evaluation) resetVariables() { ev.vars.cost = 0 }

// run evaluates e, charging its cost and that of the variables it used to
// budget. It reports exhaustion of the budget as errOutOfBudget.
func (ev *evaluation) run(e *expression, budget *int64) (ref.Val, error) {
	r := e.eval(ev.ctx, &ev.act, ev.frame, ev.track)
	if ev.track {
		cost := saturatingAdd(r.cost, ev.vars.cost)
		ev.vars.cost = 0
		if cost > uint64(*budget) {
			return nil, fmt.Errorf("validation failed due to running out of cost budget, no further validation rules will be run: %w", errOutOfBudget)
		}
		*budget -= int64(cost)
	}
	if r.err != nil {
		return nil, fmt.Errorf("expression '%v' resulted in error: %s", e.source, celErrorDetail(r.err))
	}
	return r.val, nil
}

// matchConditions reports whether every matchCondition holds. As in
// kube-apiserver, any false condition skips the policy even if others
// failed; otherwise errors follow failurePolicy (Ignore skips).
func (ev *evaluation) matchConditions() (bool, error) {
	budget := int64(celconfig.RuntimeCELCostBudgetMatchConditions)
	var errs []string
	for _, m := range ev.policy.matchConditions {
		val, err := ev.run(m.expr, &budget)
		if errors.Is(err, errOutOfBudget) {
			errs = append(errs, err.Error())
			break
		}
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if val == types.False {
			return false, nil
		}
	}
	if len(errs) == 0 {
		return true, nil
	}
	if ev.policy.failurePolicy == admissionregistrationv1.Ignore {
		return false, nil
	}
	if len(errs) == 1 {
		return false, errors.New(errs[0])
	}
	return false, fmt.Errorf("[%s]", strings.Join(errs, ", "))
}

// validations evaluates every validation and its message.
func (ev *evaluation) validations(res *PolicyResult) {
	p := ev.policy
	budget := int64(celconfig.RuntimeCELCostBudget)
	for i := range p.validations {
		v := &p.validations[i]
		val, err := ev.run(v.expr, &budget)
		if err != nil {
			ev.record(res, Violation{Validation: i, Message: err.Error(), Reason: metav1.StatusReasonInvalid, Error: true})
			if errors.Is(err, errOutOfBudget) {
				return
			}
			continue
		}
		if val == types.True {
			continue
		}
		message, err := ev.message(v, &budget)
		if err != nil {
			ev.record(res, Violation{Validation: i, Message: err.Error(), Reason: metav1.StatusReasonInvalid, Error: true})
			continue
		}
		ev.record(res, Violation{Validation: i, Message: message, Reason: v.reason})
	}
}

// message is a failed validation's message: messageExpression's result
// when it is a non-empty single line of at most 5 KiB, else message, else
// "failed expression: <expression>". The message expression always runs
// cost-tracked (it only runs on failures); after untracked validations its
// budget is what remains after their worst case, a lower bound of what
// kube-apiserver would have left.
func (ev *evaluation) message(v *compiledValidation, budget *int64) (string, error) {
	if v.messageExpression != nil {
		if !ev.track {
			remaining := int64(celconfig.RuntimeCELCostBudget) - int64(min(ev.policy.validationsMaxCost[ev.tier], celconfig.RuntimeCELCostBudget))
			budget = &remaining
		}
		track := ev.track
		ev.track, ev.vars.track = true, true
		val, err := ev.run(v.messageExpression, budget)
		ev.track, ev.vars.track = track, track
		if errors.Is(err, errOutOfBudget) {
			return "", fmt.Errorf("failed messageExpression: %w", err)
		}
		if err == nil {
			if s, ok := val.Value().(string); ok {
				s = strings.TrimSpace(s)
				if len(s) <= celconfig.MaxEvaluatedMessageExpressionSizeBytes && !strings.Contains(s, "\n") && s != "" {
					return s, nil
				}
			}
		}
	}
	if m := strings.TrimSpace(v.message); m != "" {
		return m, nil
	}
	return "failed expression: " + strings.TrimSpace(v.expr.source), nil
}

// record applies the validation actions and failurePolicy to a violation.
func (ev *evaluation) record(res *PolicyResult, v Violation) {
	p := ev.policy
	if v.Error {
		if p.failurePolicy == admissionregistrationv1.Ignore {
			return
		}
		res.Outcome = Errored
	} else if res.Outcome != Errored {
		res.Outcome = Failed
	}
	for _, a := range p.actions {
		switch a {
		case admissionregistrationv1.Deny:
			v.Denies = true
		case admissionregistrationv1.Warn:
			v.Warns = true
			res.Warnings = append(res.Warnings, fmt.Sprintf("Validation failed for VMIPolicy '%s': %s", p.Name, v.Message))
		case admissionregistrationv1.Audit:
			v.Audits = true
		}
	}
	res.Violations = append(res.Violations, v)
}

// maxAuditAnnotationValueLength truncates audit annotation values.
const maxAuditAnnotationValueLength = 10 * 1024

// auditAnnotations evaluates the audit annotations.
func (ev *evaluation) auditAnnotations(res *PolicyResult) {
	p := ev.policy
	budget := int64(celconfig.RuntimeCELCostBudget)
	for i, a := range p.auditAnnotations {
		val, err := ev.run(a.expr, &budget)
		var failure string
		switch {
		case err != nil:
			failure = err.Error()
		case val.Type() == types.StringType:
			value := strings.TrimSpace(string(val.(types.String)))
			if value == "" {
				continue
			}
			if len(value) > maxAuditAnnotationValueLength {
				value = value[:maxAuditAnnotationValueLength]
			}
			key := p.Name + "/" + a.name
			if !hasAnnotation(res.AuditAnnotations, key, value) {
				res.AuditAnnotations = append(res.AuditAnnotations, AuditAnnotation{Key: key, Value: value})
			}
			continue
		case val == types.NullValue:
			continue
		default:
			failure = fmt.Sprintf("valueExpression '%v' resulted in unsupported return type: %v. Return type must be either string or null.", p.auditAnnotations[i].expr.source, val.Type())
		}
		if p.failurePolicy == admissionregistrationv1.Ignore {
			continue
		}
		// An audit annotation error denies under failurePolicy Fail,
		// whatever the validation actions.
		res.Outcome = Errored
		res.Violations = append(res.Violations, Violation{Validation: -1, Message: failure, Reason: metav1.StatusReasonInvalid, Error: true, Denies: true})
	}
}

func hasAnnotation(list []AuditAnnotation, key, value string) bool {
	for _, a := range list {
		if a.Key == key && a.Value == value {
			return true
		}
	}
	return false
}
