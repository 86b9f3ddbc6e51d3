package policies

import "github.com/google/cel-go/checker"

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
		if len(path) < 2 {
			return nil
		}
		name := path[1]
		v, ok := s.variables[name]
		if !ok || s.visiting[name] {
			return nil
		}
		if s.visiting == nil {
			s.visiting = map[string]bool{}
		}
		s.visiting[name] = true
		defer delete(s.visiting, name)
		return s.sizeAt(v.checked.Expr(), v, path[2:])
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
					next = append(next, nameNode(&cur.children()[i]))
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
			size = uint64(len(cur.str()))
		case kindArray, kindObject:
			size = uint64(cur.count)
		default:
			size = 1
		}
		largest = max(largest, size)
	}
	return exact(largest)
}
