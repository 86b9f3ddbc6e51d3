package policies

import (
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	kjson "sigs.k8s.io/json"
)

// TypedDecoder stores a decoded Object in a Go value, so a webhook parses
// a request once and hands the same document to its typed checks and to
// the policies.
//
// Why not encoding/json or sigs.k8s.io/json on the raw bytes: they parse the
// document a second time and copy every string, which is most of the
// allocations of an admission (a realistic VMI: 115 allocations with
// sigs.k8s.io/json, see BenchmarkDecodeTyped). Here strings share the
// Object's text.
//
// The result is the one sigs.k8s.io/json's UnmarshalCaseSensitivePreserveInts
// (the decoder of Kubernetes and controller-runtime) produces. Whatever this
// decoder does not do itself is handed to that library on the document's
// text: a document that repeats a member name, a value of the wrong JSON
// type, and Go types it has no plan for (interfaces, []byte, the ",string"
// option, embedded pointers, encoding.TextUnmarshaler). Errors are therefore
// always that library's. FuzzTypedDecode compares the two.
//
// The zero value is ready to use; a TypedDecoder is safe for concurrent use
// and caches what it learns about each Go type.
type TypedDecoder struct {
	plans sync.Map // reflect.Type -> *typePlan
}

// typePlan is what the decoder knows about one Go type.
type typePlan struct {
	// fallback reports that values of the type, or of a type it contains,
	// are decoded by sigs.k8s.io/json.
	fallback bool
	// unmarshaler reports that *T implements json.Unmarshaler.
	unmarshaler bool
	// fields maps JSON member names to struct field indexes.
	fields map[string][]int
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	stringMapType       = reflect.TypeFor[map[string]string]()
	errFallback         = errors.New("decoded by sigs.k8s.io/json")
)

// Decode sets *v to the document, replacing what *v held. v must be a
// non-nil pointer.
func (d *TypedDecoder) Decode(o *Object, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &json.InvalidUnmarshalError{Type: reflect.TypeOf(v)}
	}
	if d.decode(o, rv.Elem()) {
		return nil
	}
	rv.Elem().SetZero()
	return kjson.UnmarshalCaseSensitivePreserveInts([]byte(o.text), v)
}

// decode sets v to the document and reports true, or reports false when
// sigs.k8s.io/json must decode it.
func (d *TypedDecoder) decode(o *Object, v reflect.Value) bool {
	v.SetZero()
	if o.duplicateKeys || d.plan(v.Type()).fallback {
		return false
	}
	st := decodeState{d: d}
	return st.value(o.root, v) == nil
}

// decodeState is one Decode call.
type decodeState struct {
	d *TypedDecoder
	// scratch holds the JSON text handed to an UnmarshalJSON method: one
	// buffer serves them all, since json.Unmarshaler implementations must
	// not keep the bytes they are given.
	scratch []byte
}

// value decodes n into v, which is settable and holds its type's zero
// value. Any error means "let sigs.k8s.io/json decode the document".
func (st *decodeState) value(n *jsonNode, v reflect.Value) error {
	d := st.d
	t := v.Type()
	if d.plan(t).unmarshaler {
		st.scratch = append(st.scratch[:0], n.literal()...)
		return v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(st.scratch)
	}
	if n.kind == kindNull {
		// null leaves scalars and structs alone and clears the rest; v
		// holds its zero value already.
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		elem := reflect.New(t.Elem())
		if err := st.value(n, elem.Elem()); err != nil {
			return err
		}
		v.Set(elem)
	case reflect.Struct:
		if n.kind != kindObject {
			return errFallback
		}
		fields := d.plan(t).fields
		for i := range n.children() {
			m := &n.children()[i]
			index, ok := fields[m.key()]
			if !ok {
				continue
			}
			if err := st.value(m, v.FieldByIndex(index)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.kind != kindObject {
			return errFallback
		}
		if t == stringMapType {
			// Labels, annotations, selectors: no reflection per entry.
			m := make(map[string]string, n.count)
			for i := range n.children() {
				c := &n.children()[i]
				if c.kind == kindNull {
					m[c.key()] = ""
					continue
				}
				if c.kind != kindString {
					return errFallback
				}
				m[c.key()] = c.str()
			}
			v.Set(reflect.ValueOf(m))
			return nil
		}
		m := reflect.MakeMapWithSize(t, int(n.count))
		// SetMapIndex copies key and element: one of each serves all.
		key, elem := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
		for i := range n.children() {
			c := &n.children()[i]
			elem.SetZero()
			if err := st.value(c, elem); err != nil {
				return err
			}
			key.SetString(c.key())
			m.SetMapIndex(key, elem)
		}
		v.Set(m)
	case reflect.Slice:
		if n.kind != kindArray {
			return errFallback
		}
		if n.count == 0 {
			v.Set(reflect.MakeSlice(t, 0, 0)) // [] is empty, not nil
			return nil
		}
		// Grow allocates only the elements (MakeSlice boxes a header too).
		v.Grow(int(n.count))
		v.SetLen(int(n.count))
		for i := range n.children() {
			if err := st.value(&n.children()[i], v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Array:
		if n.kind != kindArray {
			return errFallback
		}
		for i := range min(int(n.count), v.Len()) {
			if err := st.value(&n.children()[i], v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.String:
		if n.kind != kindString {
			return errFallback
		}
		v.SetString(n.str())
	case reflect.Bool:
		if n.kind != kindBool {
			return errFallback
		}
		v.SetBool(n.boolean())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n.literal(), 10, 64)
		if n.kind != kindInt || err != nil || v.OverflowInt(i) {
			return errFallback
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u, err := strconv.ParseUint(n.literal(), 10, 64)
		if n.kind != kindInt || err != nil || v.OverflowUint(u) {
			return errFallback
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		if n.kind != kindInt && n.kind != kindDouble {
			return errFallback
		}
		f, err := strconv.ParseFloat(n.literal(), t.Bits())
		if err != nil || v.OverflowFloat(f) {
			return errFallback
		}
		v.SetFloat(f)
	default:
		return errFallback
	}
	return nil
}

// plan returns what the decoder knows about t, learning it on first use.
func (d *TypedDecoder) plan(t reflect.Type) *typePlan {
	if p, ok := d.plans.Load(t); ok {
		return p.(*typePlan)
	}
	// A recursive type meets itself while planned: it is decoded by the
	// library (no VMI type is recursive).
	d.plans.Store(t, &typePlan{fallback: true})
	p := d.newPlan(t)
	d.plans.Store(t, p)
	return p
}

func (d *TypedDecoder) newPlan(t reflect.Type) *typePlan {
	p := &typePlan{}
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
		p.unmarshaler = true
		return p
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		p.fallback = true
		return p
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Array:
		p.fallback = d.plan(t.Elem()).fallback
	case reflect.Slice:
		// []byte is base64 in JSON.
		p.fallback = t.Elem().Kind() == reflect.Uint8 || d.plan(t.Elem()).fallback
	case reflect.Map:
		p.fallback = t.Key().Kind() != reflect.String ||
			reflect.PointerTo(t.Key()).Implements(textUnmarshalerType) ||
			d.plan(t.Elem()).fallback
	case reflect.Struct:
		var ok bool
		if p.fields, ok = jsonFields(t); !ok {
			p.fallback = true
			return p
		}
		for _, index := range p.fields {
			if d.plan(t.FieldByIndex(index).Type).fallback {
				p.fallback = true
			}
		}
	case reflect.String, reflect.Bool, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
	default:
		p.fallback = true
	}
	return p
}

// jsonField is a candidate struct field for a JSON member name.
type jsonField struct {
	name   string
	index  []int
	tagged bool
}

// jsonFields returns the fields encoding/json decodes members of t into,
// by member name, with its rules: embedded structs without a name in their
// tag are promoted, a shallower field hides deeper ones, a tagged field
// hides untagged ones at its depth, and two fields left at the same depth
// hide each other. ok is false when t has what this decoder leaves to
// sigs.k8s.io/json (embedded pointers, the ",string" option).
func jsonFields(t reflect.Type) (map[string][]int, bool) {
	type level struct {
		typ   reflect.Type
		index []int
		// twice reports that the type is embedded more than once at this
		// depth: its fields then hide each other.
		twice bool
	}
	var found []jsonField
	current := []level{{typ: t}}
	visited := map[reflect.Type]bool{}
	for len(current) > 0 {
		var next []level
		for _, l := range current {
			if visited[l.typ] {
				continue
			}
			visited[l.typ] = true
			for i := range l.typ.NumField() {
				sf := l.typ.Field(i)
				if sf.Anonymous {
					ft := sf.Type
					if ft.Kind() == reflect.Pointer {
						return nil, false
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if slices.Contains(strings.Split(opts, ","), "string") {
					return nil, false
				}
				if !validTagName(name) {
					name = ""
				}
				index := append(l.index[:len(l.index):len(l.index)], i)
				if name == "" && sf.Anonymous && sf.Type.Kind() == reflect.Struct {
					if k := slices.IndexFunc(next, func(n level) bool { return n.typ == sf.Type }); k >= 0 {
						next[k].twice = true
						continue
					}
					next = append(next, level{typ: sf.Type, index: index})
					continue
				}
				tagged := name != ""
				if name == "" {
					name = sf.Name
				}
				found = append(found, jsonField{name: name, index: index, tagged: tagged})
				if l.twice {
					found = append(found, found[len(found)-1])
				}
			}
		}
		current = next
	}
	// Shallowest first, tagged before untagged: the first of each name wins
	// unless the second ties with it.
	slices.SortStableFunc(found, func(a, b jsonField) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := len(a.index) - len(b.index); c != 0 {
			return c
		}
		switch {
		case a.tagged && !b.tagged:
			return -1
		case b.tagged && !a.tagged:
			return 1
		}
		return 0
	})
	fields := map[string][]int{}
	for i := 0; i < len(found); {
		j := i + 1
		for j < len(found) && found[j].name == found[i].name {
			j++
		}
		group := found[i:j]
		if len(group) == 1 || len(group[0].index) < len(group[1].index) || group[0].tagged != group[1].tagged {
			fields[group[0].name] = group[0].index
		}
		i = j
	}
	return fields, true
}

// validTagName reports whether encoding/json accepts name as a member name
// in a struct tag.
func validTagName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}
