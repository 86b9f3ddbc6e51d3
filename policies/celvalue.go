package policies

import (
	"fmt"
	"reflect"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// objectValue is a JSON object as a CEL map(string, dyn).
type objectValue jsonNode

// docSize is the size in bytes of the document the value belongs to.
func (o *objectValue) docSize() int { return o.doc.size }

var (
	_ traits.Mapper = (*objectValue)(nil)
	_ traits.Lister = (*arrayValue)(nil)
)

func (o *objectValue) node() *jsonNode { return (*jsonNode)(o) }

// ConvertToNative implements ref.Val.
func (o *objectValue) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return o.node().nativeVal().ConvertToNative(typeDesc)
}

// ConvertToType implements ref.Val.
func (o *objectValue) ConvertToType(typeVal ref.Type) ref.Val {
	switch typeVal {
	case types.MapType:
		return o
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from '%s' to '%s'", types.MapType, typeVal)
}

// Equal implements ref.Val with CEL map equality.
func (o *objectValue) Equal(other ref.Val) ref.Val {
	otherMap, ok := other.(traits.Mapper)
	if !ok {
		return types.False
	}
	if o.count != int32(otherMap.Size().(types.Int)) {
		return types.False
	}
	kids := o.node().children()
	for i := range kids {
		otherVal, found := otherMap.Find(types.String(kids[i].key()))
		if !found {
			return types.False
		}
		if types.Equal(kids[i].value(), otherVal) == types.False {
			return types.False
		}
	}
	return types.True
}

// Type implements ref.Val.
func (o *objectValue) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (o *objectValue) Value() any { return o.node().native() }

// Contains implements traits.Container (the `in` operator).
func (o *objectValue) Contains(key ref.Val) ref.Val {
	// Only presence matters: look the member up without boxing its value.
	k, ok := key.(types.String)
	return types.Bool(ok && o.node().member(string(k)) != nil)
}

// Get implements traits.Indexer.
func (o *objectValue) Get(key ref.Val) ref.Val {
	v, found := o.Find(key)
	if !found {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

// Find implements traits.Mapper.
func (o *objectValue) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	m := o.node().member(string(k))
	if m == nil {
		return nil, false
	}
	return m.value(), true
}

// Iterator implements traits.Iterable: the keys, in document order.
func (o *objectValue) Iterator() traits.Iterator {
	return &nodeIterator{kids: o.node().children(), keys: true}
}

// Size implements traits.Sizer.
func (o *objectValue) Size() ref.Val { return types.Int(o.count) }

// String renders the map for messages.
func (o *objectValue) String() string { return fmt.Sprint(o.node().nativeVal()) }

// arrayValue is a JSON array as a CEL list(dyn).
type arrayValue jsonNode

func (a *arrayValue) node() *jsonNode { return (*jsonNode)(a) }

// ConvertToNative implements ref.Val.
func (a *arrayValue) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return a.node().nativeVal().ConvertToNative(typeDesc)
}

// ConvertToType implements ref.Val.
func (a *arrayValue) ConvertToType(typeVal ref.Type) ref.Val {
	switch typeVal {
	case types.ListType:
		return a
	case types.TypeType:
		return types.ListType
	}
	return types.NewErr("type conversion error from '%s' to '%s'", types.ListType, typeVal)
}

// Equal implements ref.Val with CEL list equality.
func (a *arrayValue) Equal(other ref.Val) ref.Val {
	otherList, ok := other.(traits.Lister)
	if !ok {
		return types.False
	}
	if types.Int(a.count) != otherList.Size().(types.Int) {
		return types.False
	}
	kids := a.node().children()
	for i := range kids {
		if types.Equal(kids[i].value(), otherList.Get(types.Int(i))) == types.False {
			return types.False
		}
	}
	return types.True
}

// Type implements ref.Val.
func (a *arrayValue) Type() ref.Type { return types.ListType }

// Value implements ref.Val.
func (a *arrayValue) Value() any { return a.node().native() }

// Add implements traits.Adder (list concatenation).
func (a *arrayValue) Add(other ref.Val) ref.Val {
	otherList, ok := other.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	kids := a.node().children()
	elems := make([]ref.Val, len(kids))
	for i := range kids {
		elems[i] = kids[i].value()
	}
	return types.NewRefValList(types.DefaultTypeAdapter, elems).Add(otherList)
}

// Contains implements traits.Container (the `in` operator).
func (a *arrayValue) Contains(elem ref.Val) ref.Val {
	kids := a.node().children()
	if s, ok := elem.(types.String); ok {
		// String equality holds only with strings: compare without boxing.
		for i := range kids {
			if kids[i].kind == kindString && kids[i].str() == string(s) {
				return types.True
			}
		}
		return types.False
	}
	for i := range kids {
		if elem.Equal(kids[i].value()) == types.True {
			return types.True
		}
	}
	return types.False
}

// Get implements traits.Indexer.
func (a *arrayValue) Get(index ref.Val) ref.Val {
	i, err := types.IndexOrError(index)
	if err != nil {
		return types.ValOrErr(index, "%v", err)
	}
	if i < 0 || i >= int(a.count) {
		return types.NewErr("index '%d' out of range in list size '%d'", i, a.count)
	}
	return a.node().children()[i].value()
}

// Iterator implements traits.Iterable.
func (a *arrayValue) Iterator() traits.Iterator {
	return &nodeIterator{kids: a.node().children()}
}

// Size implements traits.Sizer.
func (a *arrayValue) Size() ref.Val { return types.Int(a.count) }

// String renders the list for messages.
func (a *arrayValue) String() string { return fmt.Sprint(a.node().nativeVal()) }

// nodeIterator iterates an array's elements or an object's keys.
type nodeIterator struct {
	kids []jsonNode
	next int
	keys bool
}

func (it *nodeIterator) ConvertToNative(reflect.Type) (any, error) {
	return nil, fmt.Errorf("type conversion on iterators not supported")
}
func (it *nodeIterator) ConvertToType(ref.Type) ref.Val { return types.NewErr("no such overload") }
func (it *nodeIterator) Equal(ref.Val) ref.Val          { return types.NewErr("no such overload") }
func (it *nodeIterator) Type() ref.Type                 { return types.IteratorType }
func (it *nodeIterator) Value() any                     { return nil }

// HasNext implements traits.Iterator.
func (it *nodeIterator) HasNext() ref.Val { return types.Bool(it.next < len(it.kids)) }

// Next implements traits.Iterator.
func (it *nodeIterator) Next() ref.Val {
	if it.next >= len(it.kids) {
		return nil
	}
	n := &it.kids[it.next]
	it.next++
	if it.keys {
		return types.String(n.key())
	}
	return n.value()
}
