package policies

import (
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
// orValue with an empty default, indexing, iteration variables of
// comprehensions over such values, and the results of variables.
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
	// ranges maps the iteration variables of the expression being
	// estimated to the ranges they iterate over.
	ranges map[string]ast.Expr
	// variables are the compiled variables of the policy, by name.
	variables map[string]ast.Expr
	// visiting guards against recursion between variables.
	visiting map[string]bool
}

var _ checker.CostEstimator = (*sizeEstimator)(nil)

// EstimateCallCost implements checker.CostEstimator; the Kubernetes
// library estimator that wraps this one prices calls.
func (s *sizeEstimator) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	return nil
}

// EstimateSize implements checker.CostEstimator.
func (s *sizeEstimator) EstimateSize(element checker.AstNode) *checker.SizeEstimate {
	if path := element.Path(); len(path) > 0 {
		if est := s.pathSize(path); est != nil {
			return est
		}
	}
	if e := element.Expr(); e != nil {
		return s.exprSize(e, s.ranges)
	}
	return nil
}

// iterationRanges maps each comprehension's iteration variable(s) to its
// range; a name bound to two different ranges is left out.
func iterationRanges(root ast.Expr) map[string]ast.Expr {
	ranges := map[string]ast.Expr{}
	ambiguous := map[string]bool{}
	bind := func(name string, rng ast.Expr) {
		if name == "" || ambiguous[name] {
			return
		}
		if prev, ok := ranges[name]; ok && prev.ID() != rng.ID() {
			delete(ranges, name)
			ambiguous[name] = true
			return
		}
		ranges[name] = rng
	}
	ast.PostOrderVisit(root, ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.ComprehensionKind {
			return
		}
		c := e.AsComprehension()
		if c.HasIterVar2() {
			// The first variable is an index or a key; the second the value.
			bind(c.IterVar2(), c.IterRange())
			return
		}
		bind(c.IterVar(), c.IterRange())
	}))
	return ranges
}

// exprPath returns the path of e from a root variable (object, params,
// variables...), through fields, "@items" for elements and keys of
// iteration, "@values" for indexed values; nil when e is not such a value.
func exprPath(e ast.Expr, ranges map[string]ast.Expr) []string {
	if e == nil {
		return nil
	}
	switch e.Kind() {
	case ast.IdentKind:
		name := e.AsIdent()
		switch name {
		case varObject, varOldObject, varParams, varVariables, varNamespace, varRequest:
			return []string{name}
		}
		if rng, ok := ranges[name]; ok {
			if p := exprPath(rng, ranges); p != nil {
				return append(p[:len(p):len(p)], "@items")
			}
		}
	case ast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return nil
		}
		if p := exprPath(sel.Operand(), ranges); p != nil {
			return append(p[:len(p):len(p)], sel.FieldName())
		}
	case ast.CallKind:
		call := e.AsCall()
		args := call.Args()
		switch {
		case call.FunctionName() == operators.OptSelect && len(args) == 2 && args[1].Kind() == ast.LiteralKind:
			field, ok := args[1].AsLiteral().(types.String)
			if !ok {
				return nil
			}
			if p := exprPath(args[0], ranges); p != nil {
				return append(p[:len(p):len(p)], string(field))
			}
		case (call.FunctionName() == operators.Index || call.FunctionName() == operators.OptIndex) && len(args) == 2:
			if p := exprPath(args[0], ranges); p != nil {
				return append(p[:len(p):len(p)], "@values")
			}
		case call.IsMemberFunction() && (call.FunctionName() == "value" && len(args) == 0 ||
			call.FunctionName() == "orValue" && len(args) == 1 && isEmptyLiteral(args[0])):
			// opt.value() and opt.orValue(<empty>) are no larger than opt.
			return exprPath(call.Target(), ranges)
		}
	}
	return nil
}

// isEmptyLiteral reports whether e is [], {}, "", null, a number or a bool.
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

// exprSize bounds the size of e's value.
func (s *sizeEstimator) exprSize(e ast.Expr, ranges map[string]ast.Expr) *checker.SizeEstimate {
	if e == nil {
		return nil
	}
	if p := exprPath(e, ranges); p != nil {
		return s.pathSize(p)
	}
	switch e.Kind() {
	case ast.LiteralKind:
		switch v := e.AsLiteral().(type) {
		case types.String:
			return exact(uint64(len(v)))
		case types.Bytes:
			return exact(uint64(len(v)))
		}
	case ast.ListKind:
		return exact(uint64(e.AsList().Size()))
	case ast.MapKind:
		return exact(uint64(e.AsMap().Size()))
	case ast.ComprehensionKind:
		// map, filter and the transform macros build at most one entry per
		// element of their range.
		c := e.AsComprehension()
		if k := c.AccuInit().Kind(); k == ast.ListKind || k == ast.MapKind {
			return s.exprSize(c.IterRange(), ranges)
		}
	case ast.CallKind:
		call := e.AsCall()
		args := call.Args()
		switch {
		case call.FunctionName() == operators.Add && len(args) == 2:
			a, b := s.exprSize(args[0], ranges), s.exprSize(args[1], ranges)
			if a != nil && b != nil {
				return &checker.SizeEstimate{Min: 0, Max: saturatingAdd(a.Max, b.Max)}
			}
		case call.IsMemberFunction() && call.FunctionName() == "orValue" && len(args) == 1:
			a, b := s.exprSize(call.Target(), ranges), s.exprSize(args[0], ranges)
			if a != nil && b != nil {
				return &checker.SizeEstimate{Min: 0, Max: max(a.Max, b.Max)}
			}
		case !call.IsMemberFunction() && call.FunctionName() == "string" && len(args) == 1:
			// A number or bool is at most 24 characters; a string is itself.
			if a := s.exprSize(args[0], ranges); a != nil {
				return &checker.SizeEstimate{Min: 0, Max: max(a.Max, 24)}
			}
			return exact(24)
		}
	}
	return nil
}

func exact(n uint64) *checker.SizeEstimate { return &checker.SizeEstimate{Min: 0, Max: n} }

// pathSize bounds the size of the value at path.
func (s *sizeEstimator) pathSize(path []string) *checker.SizeEstimate {
	switch path[0] {
	case varObject, varOldObject:
		return s.objectSize(path[1:])
	case varParams:
		if s.params != nil {
			return paramsSize(s.params.root, path[1:])
		}
		return exact(uint64(sizeTiers[s.tier] - 2))
	case varVariables:
		if len(path) != 2 {
			return nil
		}
		name := path[1]
		root, ok := s.variables[name]
		if !ok || s.visiting[name] {
			return nil
		}
		if s.visiting == nil {
			s.visiting = map[string]bool{}
		}
		s.visiting[name] = true
		defer delete(s.visiting, name)
		return s.exprSize(root, iterationRanges(root))
	}
	return nil
}

// objectSize bounds the size of the value at path inside a VMI no larger
// than the current tier.
func (s *sizeEstimator) objectSize(path []string) *checker.SizeEstimate {
	t := s.objectType
	for _, name := range path {
		switch {
		case name == "@keys" || (name == "@items" && t.IsMap()):
			t = t.KeyType
		case name == "@items" || name == "@values" || t.IsMap():
			t = t.ElemType
		default:
			f, ok := t.Fields[name]
			if !ok {
				return nil
			}
			t = f.Type
		}
		if t == nil {
			return nil
		}
	}
	limit := sizeTiers[s.tier] - 2
	bound := limit
	switch {
	case t.IsList():
		bound = limit / (t.ElemType.MinSerializedSize + 1)
	case t.IsMap():
		bound = limit / (t.ElemType.MinSerializedSize + 6)
	}
	if t.MaxElements >= 0 && t.MaxElements < bound {
		bound = t.MaxElements
	}
	return exact(uint64(bound))
}

// paramsSize is the exact size of the value at path of an inline params
// document (the largest one for @items, @values and @keys).
func paramsSize(n *jsonNode, path []string) *checker.SizeEstimate {
	nodes := []*jsonNode{n}
	for _, name := range path {
		var next []*jsonNode
		for _, cur := range nodes {
			switch {
			case name == "@keys" || (name == "@items" && cur.kind == kindObject):
				for i := range cur.children() {
					next = append(next, &jsonNode{kind: kindString, str: cur.children()[i].key})
				}
			case (name == "@items" || name == "@values") && (cur.kind == kindArray || cur.kind == kindObject):
				for i := range cur.children() {
					next = append(next, &cur.children()[i])
				}
			case cur.kind == kindObject:
				if m := cur.member(name); m != nil {
					next = append(next, m)
				}
			}
		}
		nodes = next
	}
	if len(nodes) == 0 {
		return nil
	}
	var largest uint64
	for _, cur := range nodes {
		var size uint64
		switch cur.kind {
		case kindString:
			size = uint64(len(cur.str))
		case kindArray, kindObject:
			size = uint64(cur.count)
		default:
			size = 1
		}
		largest = max(largest, size)
	}
	return exact(largest)
}
