package policies

import (
	"fmt"
	"math"
	"strconv"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
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
