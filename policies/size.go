package policies

import (
	"math"

	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	apiservercel "k8s.io/apiserver/pkg/cel"
)

// sizeEstimator bounds, for the cost estimator, the sizes of the lists,
// maps and strings an expression handles, for a document size tier: a
// value read from a document of at most N bytes has at most N elements or
// bytes, fewer when the schema says so (maxItems, maxLength). It follows
// what cel-go's own paths do not: optional field selection (x.?f),
// optionals (orValue, optional.of, optMap), conditionals, indexing,
// comprehension and bind variables, and the results and elements of
// variables.
//
// Every bound is an upper bound, so an estimate within the limits proves
// that an evaluation on a document of that size cannot exceed them.
type sizeEstimator struct {
	objectType *apiservercel.DeclType
	// params is the inline params document; nil when params come from
	// paramRef, whose size is bounded by the tier like the object's.
	params *Object
	// tier is the index in sizeTiers of the document size bound.
	tier int
	// expr is the expression being estimated.
	expr *sizedExpr
	// variables are the compiled variables of the policy, by name.
	variables map[string]*sizedExpr
	// visiting guards against recursion between variables.
	visiting map[string]bool
	// steps bounds the work of one EstimateSize: nested binds can make
	// the walk exponential in the expression's depth.
	steps int
}

// maxSizeSteps is the budget of sizeAt calls of one EstimateSize.
const maxSizeSteps = 10000

var _ checker.CostEstimator = (*sizeEstimator)(nil)

// EstimateCallCost implements checker.CostEstimator; the Kubernetes
// library estimator that wraps this one prices calls.
func (s *sizeEstimator) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	return nil
}

// EstimateSize implements checker.CostEstimator. Nodes are sized from
// their expression; cel-go's path is used only for nodes without one (the
// Kubernetes library's list elements), when it can be trusted.
func (s *sizeEstimator) EstimateSize(element checker.AstNode) *checker.SizeEstimate {
	s.steps = maxSizeSteps
	if e := element.Expr(); e != nil {
		return s.sizeAt(e, s.expr, nil)
	}
	if path := element.Path(); len(path) > 0 && !s.expr.selectsRootName {
		return s.pathSize(path)
	}
	return nil
}

// sizeAt bounds the size of the value at path rest inside the value of e,
// an expression of x: rest holds field names, "@items" for elements (keys
// of maps), "@values" for indexed values and "@keys" for keys.
func (s *sizeEstimator) sizeAt(e ast.Expr, x *sizedExpr, rest []string) *checker.SizeEstimate {
	if e == nil || s.steps <= 0 {
		return nil
	}
	s.steps--
	switch e.Kind() {
	case ast.IdentKind:
		if b, ok := x.locals[e.ID()]; ok {
			if b.expr == nil {
				return nil
			}
			if b.seg != "" {
				rest = prepend(b.seg, rest)
			}
			return s.sizeAt(b.expr, x, rest)
		}
		return s.pathSize(prepend(e.AsIdent(), rest))
	case ast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return nil
		}
		return s.sizeAt(sel.Operand(), x, prepend(sel.FieldName(), rest))
	case ast.LiteralKind:
		if len(rest) > 0 {
			return nil
		}
		switch v := e.AsLiteral().(type) {
		case types.String:
			return exact(uint64(len(v)))
		case types.Bytes:
			return exact(uint64(len(v)))
		}
		return exact(1) // as cel-go sizes scalars
	case ast.ListKind:
		list := e.AsList()
		if len(rest) == 0 {
			return exact(uint64(list.Size()))
		}
		if !isElement(rest[0]) {
			return nil
		}
		est := exact(0)
		for _, el := range list.Elements() {
			est = maxSize(est, s.sizeAt(el, x, rest[1:]))
		}
		return est
	case ast.MapKind:
		if len(rest) == 0 {
			return exact(uint64(e.AsMap().Size()))
		}
	case ast.ComprehensionKind:
		return s.comprehensionSize(e.AsComprehension(), x, rest)
	case ast.CallKind:
		return s.callSize(e.AsCall(), x, rest)
	}
	return nil
}

// callSize is sizeAt for calls.
func (s *sizeEstimator) callSize(call ast.CallExpr, x *sizedExpr, rest []string) *checker.SizeEstimate {
	args := call.Args()
	fn := call.FunctionName()
	switch {
	case fn == operators.OptSelect && len(args) == 2 && args[1].Kind() == ast.LiteralKind:
		if field, ok := args[1].AsLiteral().(types.String); ok {
			return s.sizeAt(args[0], x, prepend(string(field), rest))
		}
	case (fn == operators.Index || fn == operators.OptIndex) && len(args) == 2:
		return s.sizeAt(args[0], x, prepend("@values", rest))
	case fn == operators.Conditional && len(args) == 3:
		return maxSize(s.sizeAt(args[1], x, rest), s.sizeAt(args[2], x, rest))
	case fn == operators.Add && len(args) == 2:
		a, b := s.sizeAt(args[0], x, rest), s.sizeAt(args[1], x, rest)
		if len(rest) == 0 {
			if a != nil && b != nil {
				return exact(saturatingAdd(a.Max, b.Max))
			}
			return nil
		}
		if isElement(rest[0]) {
			// A concatenation's elements are those of its operands.
			return maxSize(a, b)
		}
	case call.IsMemberFunction():
		// Optionals are sized as the value they hold.
		switch {
		case fn == "value" && len(args) == 0:
			return s.sizeAt(call.Target(), x, rest)
		case fn == "orValue" && len(args) == 1:
			if len(rest) > 0 && isEmptyLiteral(args[0]) {
				// The default has no elements or fields.
				return s.sizeAt(call.Target(), x, rest)
			}
			return maxSize(s.sizeAt(call.Target(), x, rest), s.sizeAt(args[0], x, rest))
		}
	case (fn == "optional.of" || fn == "optional.ofNonZeroValue") && len(args) == 1:
		return s.sizeAt(args[0], x, rest)
	case fn == "optional.none" && len(args) == 0:
		if len(rest) == 0 {
			return exact(1) // as cel-go sizes it at run time
		}
		return exact(0) // nothing inside: any bound holds
	case fn == "string" && len(args) == 1 && len(rest) == 0:
		// Numbers, bools and durations print in at most 24 characters
		// (-1.2345678901234567e-308), timestamps in 35 (RFC 3339 with
		// nanoseconds and an offset). A dyn value with a size is JSON or a
		// literal.
		switch x.checked.GetType(args[0].ID()).Kind() {
		case types.StringKind, types.BytesKind:
			return s.sizeAt(args[0], x, nil)
		case types.IntKind, types.UintKind, types.DoubleKind, types.BoolKind, types.DurationKind:
			return exact(24)
		case types.TimestampKind:
			return exact(35)
		case types.DynKind:
			if a := s.sizeAt(args[0], x, nil); a != nil {
				return exact(max(a.Max, 24))
			}
		}
	}
	return nil
}

// comprehensionSize is sizeAt for comprehensions. Besides binds, it knows
// those that build a list or map by adding, at each step, a list literal
// or map entries to the accumulator (map, filter, transformList,
// transformMap...): their size is bounded by the range's, their elements
// are those of the appended lists.
func (s *sizeEstimator) comprehensionSize(c ast.ComprehensionExpr, x *sizedExpr, rest []string) *checker.SizeEstimate {
	if isBind(c) {
		return s.sizeAt(c.Result(), x, rest)
	}
	accu := c.AccuVar()
	if !isIdent(c.Result(), accu) {
		return nil
	}
	added, ok := stepAdditions(c.LoopStep(), accu)
	if !ok {
		return nil
	}
	if len(rest) == 0 {
		var perStep uint64
		for _, a := range added {
			n := uint64(1) // cel.@mapInsert(accu, k, v)
			switch a.Kind() {
			case ast.ListKind:
				n = uint64(a.AsList().Size())
			case ast.MapKind:
				n = uint64(a.AsMap().Size())
			}
			perStep = max(perStep, n)
		}
		init, rng := s.sizeAt(c.AccuInit(), x, nil), s.sizeAt(c.IterRange(), x, nil)
		if init == nil || rng == nil {
			return nil
		}
		return exact(saturatingAdd(init.Max, saturatingMul(rng.Max, perStep)))
	}
	if !isElement(rest[0]) || c.AccuInit().Kind() != ast.ListKind {
		return nil
	}
	est := s.sizeAt(c.AccuInit(), x, rest)
	for _, a := range added {
		if a.Kind() != ast.ListKind {
			return nil
		}
		est = maxSize(est, s.sizeAt(a, x, rest))
	}
	return est
}

// stepAdditions returns what a comprehension's loop step may add to the
// accumulator accu: the list literals appended (accu + [...]), the map
// literals inserted (cel.@mapInsert(accu, {...})) or the calls inserting
// one entry (cel.@mapInsert(accu, k, v)), through conditionals. It fails
// for any other step.
func stepAdditions(step ast.Expr, accu string) ([]ast.Expr, bool) {
	if isIdent(step, accu) {
		return nil, true
	}
	if step.Kind() != ast.CallKind {
		return nil, false
	}
	call := step.AsCall()
	args := call.Args()
	switch fn := call.FunctionName(); {
	case fn == operators.Conditional && len(args) == 3:
		a, okA := stepAdditions(args[1], accu)
		b, okB := stepAdditions(args[2], accu)
		return append(a, b...), okA && okB
	case fn == operators.Add && len(args) == 2 && isIdent(args[0], accu) && args[1].Kind() == ast.ListKind:
		return []ast.Expr{args[1]}, true
	case fn == mapInsertFunc && len(args) == 3 && isIdent(args[0], accu):
		return []ast.Expr{step}, true
	case fn == mapInsertFunc && len(args) == 2 && isIdent(args[0], accu) && args[1].Kind() == ast.MapKind:
		return []ast.Expr{args[1]}, true
	}
	return nil, false
}

func isIdent(e ast.Expr, name string) bool {
	return e.Kind() == ast.IdentKind && e.AsIdent() == name
}

// isElement reports a path segment naming the elements of a list.
func isElement(seg string) bool { return seg == "@items" || seg == "@values" }

// isEmptyLiteral reports whether e is a literal without elements or
// fields: [], {}, "", null, a number or a bool.
func isEmptyLiteral(e ast.Expr) bool {
	switch e.Kind() {
	case ast.ListKind:
		return e.AsList().Size() == 0
	case ast.MapKind:
		return e.AsMap().Size() == 0
	case ast.LiteralKind:
		if s, ok := e.AsLiteral().(types.String); ok {
			return len(s) == 0
		}
		return true
	}
	return false
}

func prepend(seg string, rest []string) []string {
	return append([]string{seg}, rest...)
}

func exact(n uint64) *checker.SizeEstimate { return &checker.SizeEstimate{Min: 0, Max: n} }

// maxSize is the larger of two bounds; nil when either is unknown.
func maxSize(a, b *checker.SizeEstimate) *checker.SizeEstimate {
	if a == nil || b == nil {
		return nil
	}
	return exact(max(a.Max, b.Max))
}

func saturatingMul(a, b uint64) uint64 {
	if a != 0 && b > math.MaxUint64/a {
		return math.MaxUint64
	}
	return a * b
}
