package policies

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Object is a JSON document decoded for CEL. Its values are the ones a
// ValidatingAdmissionPolicy evaluates a custom resource against (the decoded
// JSON: objects are maps with string keys, integral numbers are int, other
// numbers double), but decoding allocates a constant number of times and
// reading a field allocates nothing for objects and lists: the whole
// document lives in one slice of nodes and CEL values point into it.
//
// An Object is immutable once decoded and safe for concurrent use.
type Object struct {
	// text is the document; nodes' strings and spans point into it.
	text  string
	nodes []jsonNode
	root  *jsonNode
	size  int
	// unescaped holds the strings and member names written with escapes
	// or with bytes that are not UTF-8; the others are read from text where
	// they stand.
	unescaped []string
	// duplicateKeys reports that an object in the document repeats a
	// member name (only the last is kept, as in a decoded map).
	duplicateKeys bool
}

// nodeKind is the JSON type of a node.
type nodeKind uint8

const (
	kindNull nodeKind = iota
	kindBool
	kindInt
	kindDouble
	kindString
	kindObject
	kindArray
	// kindDropped marks a member hidden by a later one of the same name
	// while an object is parsed.
	kindDropped
)

// Flags of a node.
const (
	// escapedString: the string's value is doc.unescaped[first].
	escapedString uint8 = 1 << iota
	// escapedKey: the member name is doc.unescaped[keyStart] (names with
	// escapes, and names too long for keyLen).
	escapedKey
)

// jsonNode is one JSON value. Children of an object or array are stored
// contiguously in the document's nodes. Values are read from the text
// rather than copied into the node: a node is 32 bytes, and the nodes are
// most of what decoding a document allocates.
type jsonNode struct {
	doc *Object
	// start and end locate the value's JSON text in doc.text.
	start, end int32
	// first and count locate an object's or array's children in doc.nodes.
	first, count int32
	// keyStart and keyLen locate the member name (without its quotes) in
	// doc.text when the node is an object's member.
	keyStart int32
	keyLen   uint16
	kind     nodeKind
	flags    uint8
}

// str is a string's value.
func (n *jsonNode) str() string {
	if n.flags&escapedString != 0 {
		return n.doc.unescaped[n.first]
	}
	return n.doc.text[n.start+1 : n.end-1]
}

// key is the member name of an object's member, or "".
func (n *jsonNode) key() string {
	if n.flags&escapedKey != 0 {
		return n.doc.unescaped[n.keyStart]
	}
	return n.doc.text[n.keyStart : n.keyStart+int32(n.keyLen)]
}

// nameNode returns a string node whose value is member m's name.
func nameNode(m *jsonNode) *jsonNode {
	if m.flags&escapedKey != 0 {
		return &jsonNode{doc: m.doc, kind: kindString, flags: escapedString, first: m.keyStart}
	}
	// The name's text is quoted: the node spans the quotes.
	return &jsonNode{doc: m.doc, kind: kindString, start: m.keyStart - 1, end: m.keyStart + int32(m.keyLen) + 1}
}

// literal is the value's JSON text.
func (n *jsonNode) literal() string { return n.doc.text[n.start:n.end] }

// boolean is a bool's value.
func (n *jsonNode) boolean() bool { return n.doc.text[n.start] == 't' }

// integer is an int's value (the parser checked that it fits).
func (n *jsonNode) integer() int64 {
	i, _ := strconv.ParseInt(n.literal(), 10, 64)
	return i
}

// double is a double's value (the parser checked that it parses).
func (n *jsonNode) double() float64 {
	f, _ := strconv.ParseFloat(n.literal(), 64)
	return f
}

// DecodeObject decodes a JSON document (an admission request's object, a
// parameter object, ...) for evaluation.
func DecodeObject(raw []byte) (*Object, error) {
	if len(raw) > math.MaxInt32 {
		return nil, fmt.Errorf("the JSON document is %d bytes, more than %d", len(raw), math.MaxInt32)
	}
	text := string(raw)
	bound := nodeBound(text)
	// One allocation holds the nodes and the parser's scratch stack. The
	// stack holds the members of the open containers only, far fewer than
	// bound in real documents: it starts small and grows if it must.
	scratch := min(bound, 16)
	buf := make([]jsonNode, 0, bound+scratch)
	obj := &Object{text: text, size: len(raw)}
	p := jsonParser{doc: obj, text: text, nodes: buf[:0:bound], scratch: buf[bound : bound : bound+scratch]}
	p.skipSpace()
	root, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(text) {
		return nil, p.errorf("unexpected data after the top-level value")
	}
	p.nodes = append(p.nodes, root)
	obj.nodes, obj.duplicateKeys = p.nodes, p.duplicateKeys
	obj.root = &obj.nodes[len(obj.nodes)-1]
	return obj, nil
}

// Value returns the document as a CEL value.
func (o *Object) Value() ref.Val {
	if o == nil {
		return types.NullValue
	}
	return o.root.value()
}

// Size is the length of the JSON document in bytes.
func (o *Object) Size() int {
	if o == nil {
		return 0
	}
	return o.size
}

// Native returns the document as the Go values encoding/json would produce,
// with integral numbers as int64 (the form of unstructured.Unstructured).
func (o *Object) Native() any {
	if o == nil {
		return nil
	}
	return o.root.native()
}

// Labels returns the object's metadata.labels as labels.Labels.
func (o *Object) Labels() ObjectLabels {
	if o == nil {
		return ObjectLabels{}
	}
	return ObjectLabels{node: o.root.path("metadata", "labels")}
}

// Name returns metadata.name, or "".
func (o *Object) Name() string { return o.stringAt("metadata", "name") }

// Namespace returns metadata.namespace, or "".
func (o *Object) Namespace() string { return o.stringAt("metadata", "namespace") }

// APIVersion returns apiVersion, or "".
func (o *Object) APIVersion() string { return o.stringAt("apiVersion") }

// Kind returns kind, or "".
func (o *Object) Kind() string { return o.stringAt("kind") }

func (o *Object) stringAt(path ...string) string {
	if o == nil {
		return ""
	}
	if n := o.root.path(path...); n != nil && n.kind == kindString {
		return n.str()
	}
	return ""
}

// ObjectLabels is an object's labels as labels.Labels, without copying them.
type ObjectLabels struct{ node *jsonNode }

// Has reports whether the label exists.
func (l ObjectLabels) Has(label string) bool {
	_, ok := l.Lookup(label)
	return ok
}

// Get returns the label's value, or "".
func (l ObjectLabels) Get(label string) string {
	v, _ := l.Lookup(label)
	return v
}

// Lookup returns the label's value and whether it exists.
func (l ObjectLabels) Lookup(label string) (string, bool) {
	if l.node == nil || l.node.kind != kindObject {
		return "", false
	}
	m := l.node.member(label)
	if m == nil || m.kind != kindString {
		return "", false
	}
	return m.str(), true
}

func (n *jsonNode) children() []jsonNode {
	return n.doc.nodes[n.first : n.first+n.count]
}

// member returns an object's member named key; the last one wins, as in
// encoding/json.
func (n *jsonNode) member(key string) *jsonNode {
	kids := n.children()
	for i := len(kids) - 1; i >= 0; i-- {
		if kids[i].key() == key {
			return &kids[i]
		}
	}
	return nil
}

func (n *jsonNode) path(keys ...string) *jsonNode {
	for _, k := range keys {
		if n == nil || n.kind != kindObject {
			return nil
		}
		n = n.member(k)
	}
	return n
}

// value returns the node as a CEL value. Objects and arrays point into the
// document; scalars are boxed.
func (n *jsonNode) value() ref.Val {
	switch n.kind {
	case kindObject:
		return (*objectValue)(n)
	case kindArray:
		return (*arrayValue)(n)
	case kindString:
		return types.String(n.str())
	case kindInt:
		return types.Int(n.integer())
	case kindDouble:
		return types.Double(n.double())
	case kindBool:
		return types.Bool(n.boolean())
	default:
		return types.NullValue
	}
}

func (n *jsonNode) native() any {
	switch n.kind {
	case kindObject:
		out := make(map[string]any, n.count)
		for i := range n.children() {
			c := &n.children()[i]
			out[c.key()] = c.native()
		}
		return out
	case kindArray:
		out := make([]any, n.count)
		for i := range n.children() {
			out[i] = n.children()[i].native()
		}
		return out
	case kindString:
		return n.str()
	case kindInt:
		return n.integer()
	case kindDouble:
		return n.double()
	case kindBool:
		return n.boolean()
	default:
		return nil
	}
}

// nativeVal is the value encoding/json semantics give the node, as cel-go's
// own adapter would present it; conversions delegate to it.
func (n *jsonNode) nativeVal() ref.Val {
	return types.DefaultTypeAdapter.NativeToValue(n.native())
}

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

// nodeBound returns an upper bound of the number of values in a JSON text:
// one plus one per comma, '[' and '{' outside strings.
func nodeBound(text string) int {
	count := 1
	inString := false
	for i := 0; i < len(text); i++ {
		c := text[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ',', '[', '{':
			count++
		}
	}
	return count
}

// jsonParser is a small recursive-descent JSON parser writing into a node
// arena.
type jsonParser struct {
	doc     *Object
	text    string
	pos     int
	nodes   []jsonNode
	scratch []jsonNode
	depth   int
	// duplicateKeys is set when an object repeats a member name.
	duplicateKeys bool
}

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.text) {
		switch p.text[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value() (jsonNode, error) {
	start := p.pos
	n, err := p.scalarOrContainer()
	n.doc, n.start, n.end = p.doc, int32(start), int32(p.pos)
	return n, err
}

func (p *jsonParser) scalarOrContainer() (jsonNode, error) {
	if p.pos >= len(p.text) {
		return jsonNode{}, p.errorf("unexpected end of input")
	}
	switch c := p.text[p.pos]; {
	case c == '{':
		return p.container(kindObject)
	case c == '[':
		return p.container(kindArray)
	case c == '"':
		n := jsonNode{kind: kindString}
		s, escaped, err := p.string()
		if escaped {
			n.flags, n.first = escapedString, int32(len(p.doc.unescaped))
			p.doc.unescaped = append(p.doc.unescaped, s)
		}
		return n, err
	case c == 't':
		return jsonNode{kind: kindBool}, p.literal("true")
	case c == 'f':
		return jsonNode{kind: kindBool}, p.literal("false")
	case c == 'n':
		return jsonNode{kind: kindNull}, p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return jsonNode{}, p.errorf("unexpected character %q", c)
	}
}

func (p *jsonParser) literal(word string) error {
	if len(p.text)-p.pos < len(word) || p.text[p.pos:p.pos+len(word)] != word {
		return p.errorf("invalid literal")
	}
	p.pos += len(word)
	return nil
}

// container parses an object or array; its children are pushed on the
// scratch stack and moved to the arena, contiguously, when it closes.
func (p *jsonParser) container(kind nodeKind) (jsonNode, error) {
	p.depth++
	if p.depth > maxDepth {
		return jsonNode{}, p.errorf("exceeded max depth")
	}
	closing := byte(']')
	if kind == kindObject {
		closing = '}'
	}
	p.pos++ // opening bracket
	start := len(p.scratch)
	p.skipSpace()
	if p.pos < len(p.text) && p.text[p.pos] == closing {
		p.pos++
		p.depth--
		return jsonNode{kind: kind, first: int32(len(p.nodes))}, nil
	}
	for {
		p.skipSpace()
		var keyStart int32
		var keyLen uint16
		var keyFlags uint8
		if kind == kindObject {
			if p.pos >= len(p.text) || p.text[p.pos] != '"' {
				return jsonNode{}, p.errorf("expected a member name")
			}
			keyStart = int32(p.pos + 1)
			key, escaped, err := p.string()
			if err != nil {
				return jsonNode{}, err
			}
			if n := int32(p.pos-1) - keyStart; !escaped && n <= math.MaxUint16 {
				keyLen = uint16(n)
			} else {
				keyFlags, keyStart = escapedKey, int32(len(p.doc.unescaped))
				p.doc.unescaped = append(p.doc.unescaped, key)
			}
			p.skipSpace()
			if p.pos >= len(p.text) || p.text[p.pos] != ':' {
				return jsonNode{}, p.errorf("expected ':'")
			}
			p.pos++
			p.skipSpace()
		}
		child, err := p.value()
		if err != nil {
			return jsonNode{}, err
		}
		child.keyStart, child.keyLen, child.flags = keyStart, keyLen, child.flags|keyFlags
		p.scratch = append(p.scratch, child)
		p.skipSpace()
		if p.pos >= len(p.text) {
			return jsonNode{}, p.errorf("unexpected end of input")
		}
		c := p.text[p.pos]
		p.pos++
		if c == ',' {
			continue
		}
		if c != closing {
			return jsonNode{}, p.errorf("expected ',' or %q", closing)
		}
		break
	}
	if kind == kindObject {
		members := dropDuplicateKeys(p.scratch[start:])
		p.duplicateKeys = p.duplicateKeys || len(members) < len(p.scratch)-start
		p.scratch = append(p.scratch[:start], members...)
	}
	first := len(p.nodes)
	p.nodes = append(p.nodes, p.scratch[start:]...)
	count := len(p.scratch) - start
	p.scratch = p.scratch[:start]
	p.depth--
	return jsonNode{kind: kind, first: int32(first), count: int32(count)}, nil
}

// dropDuplicateKeys keeps the last member of each name, as encoding/json
// does, compacting members in place.
func dropDuplicateKeys(members []jsonNode) []jsonNode {
	if len(members) < 2 {
		return members
	}
	found := false
	if len(members) > 32 {
		seen := make(map[string]bool, len(members))
		for i := len(members) - 1; i >= 0; i-- {
			if seen[members[i].key()] {
				members[i].kind, found = kindDropped, true
				continue
			}
			seen[members[i].key()] = true
		}
	} else {
		for i := range members {
			for j := i + 1; j < len(members); j++ {
				if members[j].key() == members[i].key() {
					members[i].kind, found = kindDropped, true
					break
				}
			}
		}
	}
	if !found {
		return members
	}
	out := members[:0]
	for i := range members {
		if members[i].kind != kindDropped {
			out = append(out, members[i])
		}
	}
	return out
}

// string parses a JSON string; escaped reports that it was rewritten (it
// had escapes or bytes that are not UTF-8); others share the text.
func (p *jsonParser) string() (s string, escaped bool, err error) {
	p.pos++ // opening quote
	start := p.pos
	for p.pos < len(p.text) {
		c := p.text[p.pos]
		switch {
		case c == '"':
			s := p.text[start:p.pos]
			p.pos++
			return s, false, nil
		case c == '\\':
			s, err := p.escapedString(start)
			return s, true, err
		case c < 0x20:
			return "", false, p.errorf("control character in string")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(p.text[p.pos:])
			if r == utf8.RuneError && size == 1 {
				s, err := p.escapedString(start)
				return s, true, err
			}
			p.pos += size
			continue
		}
		p.pos++
	}
	return "", false, p.errorf("unterminated string")
}

func (p *jsonParser) escapedString(start int) (string, error) {
	buf := make([]byte, 0, p.pos-start+16)
	buf = append(buf, p.text[start:p.pos]...)
	for p.pos < len(p.text) {
		c := p.text[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c >= utf8.RuneSelf:
			// Each byte that is not valid UTF-8 becomes U+FFFD, as in
			// encoding/json.
			r, size := utf8.DecodeRuneInString(p.text[p.pos:])
			buf = utf8.AppendRune(buf, r)
			p.pos += size
			continue
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		p.pos++ // backslash
		if p.pos >= len(p.text) {
			break
		}
		esc := p.text[p.pos]
		p.pos++
		switch esc {
		case '"', '\\', '/':
			buf = append(buf, esc)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.errorf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if p.pos+1 < len(p.text) && p.text[p.pos] == '\\' && p.text[p.pos+1] == 'u' {
					save := p.pos
					p.pos += 2
					if lo, ok := p.hex4(); ok {
						if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
							r2 = d
						} else {
							p.pos = save
						}
					} else {
						p.pos = save
					}
				}
				r = r2
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.errorf("invalid escape %q", esc)
		}
	}
	return "", p.errorf("unterminated string")
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.text)-p.pos < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(p.text[p.pos:p.pos+4], 16, 32)
	if err != nil {
		return 0, false
	}
	p.pos += 4
	return rune(v), true
}

// number parses a JSON number: int when it is an integer that fits int64,
// double otherwise, as Kubernetes decodes unstructured objects.
func (p *jsonParser) number() (jsonNode, error) {
	start := p.pos
	if p.text[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.text) && p.text[p.pos] >= '0' && p.text[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	if digits() == 0 {
		return jsonNode{}, p.errorf("invalid number")
	}
	if p.text[intStart] == '0' && p.pos-intStart > 1 {
		return jsonNode{}, p.errorf("invalid number: leading zero")
	}
	integral := true
	if p.pos < len(p.text) && p.text[p.pos] == '.' {
		integral = false
		p.pos++
		if digits() == 0 {
			return jsonNode{}, p.errorf("invalid number")
		}
	}
	if p.pos < len(p.text) && (p.text[p.pos] == 'e' || p.text[p.pos] == 'E') {
		integral = false
		p.pos++
		if p.pos < len(p.text) && (p.text[p.pos] == '+' || p.text[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return jsonNode{}, p.errorf("invalid number")
		}
	}
	text := p.text[start:p.pos]
	if integral {
		if _, err := strconv.ParseInt(text, 10, 64); err == nil {
			return jsonNode{kind: kindInt}, nil
		}
	}
	if _, err := strconv.ParseFloat(text, 64); err != nil {
		return jsonNode{}, p.errorf("invalid number %q", text)
	}
	return jsonNode{kind: kindDouble}, nil
}
