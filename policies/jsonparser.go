package policies

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

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
