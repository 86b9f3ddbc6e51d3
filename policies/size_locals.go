package policies

import (
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
)

// sizedExpr is a checked expression with its local variables resolved.
type sizedExpr struct {
	checked *ast.AST
	// locals maps the ID of each identifier naming a comprehension or bind
	// variable to what it is bound to.
	locals map[int64]binding
	// selectsRootName reports a field selection named like a root variable
	// (x.object): cel-go's paths start such selections on values without a
	// path as if they were that root, so its paths cannot be trusted.
	selectsRootName bool
	// insertsMaps reports a cel.@mapInsert of a whole map (the expansion
	// of transformMapEntry): cel-go bounds its result by its range's size,
	// but each step may add any number of entries.
	insertsMaps bool
}

// binding is what a local variable is bound to: the value of expr, or with
// seg the elements ("@items"), values ("@values") or keys ("@keys") of it.
// A nil expr is a value not tracked (an accumulator, a list index).
type binding struct {
	expr ast.Expr
	seg  string
}

// newSizedExpr resolves the local variables of a checked expression, with
// the scoping rules of cel-go's checker: an accumulator is visible in the
// loop and the result, iteration variables in the loop only.
func newSizedExpr(a *ast.AST) *sizedExpr {
	x := &sizedExpr{checked: a, locals: map[int64]binding{}}
	type scope struct {
		name   string
		b      binding
		parent *scope
	}
	var walk func(e ast.Expr, sc *scope)
	walk = func(e ast.Expr, sc *scope) {
		switch e.Kind() {
		case ast.IdentKind:
			for s := sc; s != nil; s = s.parent {
				if s.name == e.AsIdent() {
					x.locals[e.ID()] = s.b
					return
				}
			}
		case ast.SelectKind:
			sel := e.AsSelect()
			switch sel.FieldName() {
			case varObject, varOldObject, varParams, varVariables:
				x.selectsRootName = true
			}
			walk(sel.Operand(), sc)
		case ast.CallKind:
			call := e.AsCall()
			if call.IsMemberFunction() {
				walk(call.Target(), sc)
			}
			if call.FunctionName() == mapInsertFunc && len(call.Args()) == 2 {
				x.insertsMaps = true
			}
			for _, arg := range call.Args() {
				walk(arg, sc)
			}
		case ast.ListKind:
			for _, el := range e.AsList().Elements() {
				walk(el, sc)
			}
		case ast.MapKind:
			for _, ent := range e.AsMap().Entries() {
				walk(ent.AsMapEntry().Key(), sc)
				walk(ent.AsMapEntry().Value(), sc)
			}
		case ast.StructKind:
			for _, f := range e.AsStruct().Fields() {
				walk(f.AsStructField().Value(), sc)
			}
		case ast.ComprehensionKind:
			c := e.AsComprehension()
			walk(c.IterRange(), sc)
			walk(c.AccuInit(), sc)
			accu := binding{}
			if isBind(c) {
				accu.expr = c.AccuInit()
			}
			sc = &scope{name: c.AccuVar(), b: accu, parent: sc}
			inLoop := sc
			if c.HasIterVar2() {
				// The first variable is a list index or a map key.
				first := binding{}
				if t := a.GetType(c.IterRange().ID()); t != nil && t.Kind() == types.MapKind {
					first = binding{expr: c.IterRange(), seg: "@keys"}
				}
				inLoop = &scope{name: c.IterVar(), b: first, parent: inLoop}
				inLoop = &scope{name: c.IterVar2(), b: binding{expr: c.IterRange(), seg: "@values"}, parent: inLoop}
			} else {
				inLoop = &scope{name: c.IterVar(), b: binding{expr: c.IterRange(), seg: "@items"}, parent: inLoop}
			}
			walk(c.LoopCondition(), inLoop)
			walk(c.LoopStep(), inLoop)
			walk(c.Result(), sc)
		}
	}
	walk(a.Expr(), nil)
	return x
}

// mapInsertFunc is the function the two-variable comprehension macros of
// cel-go's ext package insert map entries with.
const mapInsertFunc = "cel.@mapInsert"

// isBind reports a comprehension whose loop never runs (cel.bind, optMap,
// optFlatMap, sortBy): its result sees the accumulator as initialized.
func isBind(c ast.ComprehensionExpr) bool {
	r := c.IterRange()
	return r.Kind() == ast.ListKind && r.AsList().Size() == 0
}
