package policies

import (
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// The optional-types library implements or() and orValue() with a planner
// decorator (cel-go's decorateOptionalOr, a program option of the library)
// rather than function bindings. Programs planned without cost tracking
// (expression.untracked) need the same decorator; this is a copy of
// cel-go v0.29's, whose types are unexported.

// decorateOptionalOr short-circuits optional or() and orValue().
func decorateOptionalOr(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	call, ok := i.(interpreter.InterpretableCall)
	if !ok {
		return i, nil
	}
	args := call.Args()
	if len(args) != 2 {
		return i, nil
	}
	lhs, rhs := args[0], args[1]
	switch call.Function() {
	case "or":
		if call.OverloadID() != "" && call.OverloadID() != "optional_or_optional" {
			return i, nil
		}
		return &optionalOr{id: call.ID(), lhs: lhs, rhs: rhs}, nil
	case "orValue":
		if call.OverloadID() != "" && call.OverloadID() != "optional_orValue_value" {
			return i, nil
		}
		return &optionalOr{id: call.ID(), lhs: lhs, rhs: rhs, unwrap: true}, nil
	default:
		return i, nil
	}
}

// optionalOr evaluates lhs and, when it is an empty optional, rhs. With
// unwrap (orValue) a present value is returned unwrapped.
type optionalOr struct {
	id       int64
	lhs, rhs interpreter.InterpretableV2
	unwrap   bool
}

// ID implements interpreter.Interpretable.
func (o *optionalOr) ID() int64 { return o.id }

// Exec implements interpreter.InterpretableV2.
func (o *optionalOr) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	left := o.lhs.Exec(frame)
	switch val := left.(type) {
	case *types.Err, *types.Unknown:
		return left
	case *types.Optional:
		if !val.HasValue() {
			return o.rhs.Exec(frame)
		}
		if o.unwrap {
			return val.GetValue()
		}
		return left
	default:
		return types.NoSuchOverloadErr()
	}
}

// Eval implements interpreter.Interpretable.
func (o *optionalOr) Eval(act interpreter.Activation) ref.Val {
	return o.Exec(interpreter.AsFrame(act))
}
