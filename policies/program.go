package policies

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/library"
)

// sizeTiers are the document sizes (bytes) for which a policy's worst-case
// cost is estimated. An evaluation runs without cost tracking when the
// estimate for the smallest tier that holds its object proves the limits
// cannot be reached; the last tier is the largest request kube-apiserver
// accepts.
var sizeTiers = [...]int64{4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, celconfig.MaxRequestSizeBytes}

// tierFor returns the index of the smallest size tier holding size bytes,
// or -1 when none does.
func tierFor(size int) int {
	for i, t := range sizeTiers {
		if int64(size) <= t {
			return i
		}
	}
	return -1
}

// expression is one compiled CEL expression of a policy.
type expression struct {
	// source is the expression as written.
	source string
	// checked is the type-checked AST.
	checked *cel.Ast
	// tracked is the program kube-apiserver would run: cel-go with VAP's
	// program options, tracking cost with the per-call limit.
	tracked cel.Program
	// untracked is the same plan without the cost observer, used only when
	// the worst-case cost is proven to be within the limits.
	untracked interpreter.InterpretableV2
	// maxCost is the worst-case cost estimate per size tier.
	maxCost [len(sizeTiers)]uint64
}

// evalResult is the outcome of evaluating an expression.
type evalResult struct {
	val  ref.Val
	cost uint64
	err  error
}

// errOutOfBudget is returned when an evaluation exceeds its budget.
var errOutOfBudget = apiservercel.ErrOutOfBudget

// eval evaluates the expression. With track set it runs the cost-tracked
// program with act and reports its cost; otherwise the plain plan in frame,
// whose activation is act. Runtime errors are returned as err, wrapping
// the CEL error.
func (e *expression) eval(ctx context.Context, act interpreter.Activation, frame *interpreter.ExecutionFrame, track bool) evalResult {
	if !track {
		val := e.untracked.Exec(frame)
		if types.IsError(val) {
			return evalResult{err: val.(*types.Err)}
		}
		return evalResult{val: val}
	}
	val, details, err := e.tracked.ContextEval(ctx, act)
	var cost uint64
	if details != nil && details.ActualCost() != nil {
		cost = *details.ActualCost()
	} else {
		cost = math.MaxUint64
	}
	return evalResult{val: val, cost: cost, err: err}
}

// compiler state for one policy: its environments and options.
type exprCompiler struct {
	c     *Compiler
	sizes *sizeEstimator
}

// compile type-checks source in env and plans its programs. returnTypes
// are the types the expression may evaluate to (nil: any).
func (x *exprCompiler) compile(env *cel.Env, source string, returnTypes ...*cel.Type) (*expression, *apiservercel.Error) {
	ast, issues := env.Compile(source)
	if issues != nil && issues.Err() != nil {
		return nil, &apiservercel.Error{
			Type:   apiservercel.ErrorTypeInvalid,
			Detail: "compilation failed: " + issues.String(),
			Cause:  apiservercel.NewCompilationError(issues),
		}
	}
	if len(returnTypes) > 0 {
		found := false
		for _, t := range returnTypes {
			if ast.OutputType().IsExactType(t) || cel.AnyType.IsExactType(t) {
				found = true
				break
			}
		}
		if !found {
			var reason string
			if len(returnTypes) == 1 {
				reason = fmt.Sprintf("must evaluate to %v but got %v", returnTypes[0].String(), ast.OutputType().String())
			} else {
				reason = fmt.Sprintf("must evaluate to one of %v but got %v", returnTypes, ast.OutputType().String())
			}
			return nil, &apiservercel.Error{Type: apiservercel.ErrorTypeInvalid, Detail: reason}
		}
	}
	tracked, err := env.Program(ast, cel.InterruptCheckFrequency(celconfig.CheckFrequency))
	if err != nil {
		return nil, &apiservercel.Error{Type: apiservercel.ErrorTypeInternal, Detail: "program instantiation failed: " + err.Error()}
	}
	untracked, err := x.plan(env, ast)
	if err != nil {
		return nil, &apiservercel.Error{Type: apiservercel.ErrorTypeInternal, Detail: "program instantiation failed: " + err.Error()}
	}
	e := &expression{source: source, checked: ast, tracked: tracked, untracked: untracked}
	x.sizes.expr = newSizedExpr(ast.NativeRep())
	for i := range sizeTiers {
		x.sizes.tier = i
		est, err := env.EstimateCost(ast, &library.CostEstimator{SizeEstimator: x.sizes})
		// cel-go underestimates what transformMapEntry builds (see
		// sizedExpr.insertsMaps).
		if err != nil || x.sizes.expr.insertsMaps {
			e.maxCost[i] = math.MaxUint64
			continue
		}
		e.maxCost[i] = est.Max
	}
	return e, nil
}

// plan builds the expression's interpretable without cost tracking: the
// planner options env.Program would apply, in the same order, except the
// cost observer: the optional library's or/orValue decorator, constant
// folding, and precompiled regular expressions (cel-go's for matches, the
// Kubernetes regex library's for find and findAll). The other program
// options of the Kubernetes environment only configure cost tracking.
func (x *exprCompiler) plan(env *cel.Env, ast *cel.Ast) (interpreter.InterpretableV2, error) {
	attrs := interpreter.NewAttributeFactory(env.Container, env.CELTypeAdapter(), env.CELTypeProvider())
	interp := interpreter.NewInterpreter(x.c.dispatcher, env.Container, env.CELTypeProvider(), env.CELTypeAdapter(), attrs)
	return interp.NewInterpretable(ast.NativeRep(),
		interpreter.CustomDecoratorV2(decorateOptionalOr),
		interpreter.Optimize(),
		interpreter.CompileRegexConstants(
			interpreter.MatchesRegexOptimization,
			library.FindRegexOptimization,
			library.FindAllRegexOptimization,
		),
	)
}

// EstimatedCost is the static worst-case cost of one expression.
type EstimatedCost struct {
	// FieldRef is the path of the expression in the policy.
	FieldRef string
	// Max is the worst case for an object of the largest size kube-apiserver
	// accepts (3 MiB); math.MaxUint64 when unbounded.
	Max uint64
	// MaxSmallObject is the worst case for an object of at most 16 KiB,
	// the size of realistic VMIs.
	MaxSmallObject uint64
	// ExceedsPerCallLimit reports that Max is above the per-expression
	// runtime limit of a ValidatingAdmissionPolicy: the expression may be
	// stopped at run time, and its failurePolicy applied.
	ExceedsPerCallLimit bool
}

// celErrorDetail returns the message of a CEL evaluation error.
func celErrorDetail(err error) string {
	var celErr *types.Err
	if errors.As(err, &celErr) {
		return celErr.String()
	}
	return err.Error()
}
