package policies

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// TestDecodeObjectMatchesKubernetesJSON checks that a decoded document is
// the value Kubernetes' unstructured JSON decoding produces.
func TestDecodeObjectMatchesKubernetesJSON(t *testing.T) {
	realistic, err := os.ReadFile("testdata/vmi-realistic.json")
	if err != nil {
		t.Fatal(err)
	}
	docs := []string{
		string(realistic),
		`{}`, `[]`, `null`, `true`, `"x"`, `0`, `-12`, `1.5`, `1e3`, `1.0`, `9223372036854775807`, `9223372036854775808`, `-0.0`,
		`{"a":[1,"two",3.5,null,false,{"b":[]}],"c":{"d":{"e":"f"}}}`,
		`{"esc":"quote \" backslash \\ slash \/ nl \n tab \t u \u00e9 surrogate \ud83d\ude00 bad \ud800"}`,
		` { "spaced" : [ 1 , 2 ] } `,
		`{"dup":1,"dup":2}`,
		`{"k\u00e9y":"v","k\"q":{"k\u00e9y":1},"plain":"\u0041"}`,
		`{"` + strings.Repeat("k", 70000) + `":"long name","short":"` + strings.Repeat("v", 70000) + `"}`,
		`{"a":{"x":1},"a":{"y":[true,false]},"b":"é"}`,
		"{\"bad\xff\":\"\xed\xa0\x80 \xc3\",\"mixed\":\"\\n\xfe\"}",
		`1E5`, `1e-5`, `-1.5E+2`, `-0`, `0.0`, `[1,[2,[3]]]`, `[[],{}]`, `{"a":{},"b":[]}`, "\t[\r\n1\n]\n",
		`"\ud83d"`, `"\ud83d\u0041"`, `"\ud83dx"`, `"\ude00"`, `"\ud83d\ude00\ud83d"`, `"a\\"`, `"\\u0041"`,
		`"\b\f\r"`, `"é\n"`, "\"\xff\"", "\"\xe2\x82\"",
		// Duplicates among more members than the small-object path handles.
		manyMembers(40, 0, 39), manyMembers(40, 39, 0), manyMembers(40, 5, 20), manyMembers(33, 0, 32), manyMembers(32, 0, 31), manyMembers(3, 0, 2),
		// As deep as Kubernetes allows, and one more.
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
		// Empty containers close at once: many of them are not deep.
		"[" + strings.Repeat("[],{},", 10001) + "[]]", "[" + strings.Repeat(`[1],{"a":1},`, 10001) + "[1]]",
	}
	for _, doc := range docs {
		if msg := compareWithKubernetesJSON([]byte(doc)); msg != "" {
			t.Errorf("%.200s: %s", doc, msg)
		}
	}
}

// manyMembers is an object of n members k0, k1, ... whose member at dup
// repeats the name of the one at of.
func manyMembers(n, dup, of int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		name := i
		if i == dup {
			name = of
		}
		fmt.Fprintf(&b, `"k%d":%d`, name, i)
	}
	b.WriteString("}")
	return b.String()
}

// compareWithKubernetesJSON decodes doc with DecodeObject and with
// Kubernetes' unstructured JSON decoding and describes how they differ
// ("" when they agree, refusals included).
func compareWithKubernetesJSON(doc []byte) string {
	var want any
	wantErr := utiljson.Unmarshal(doc, &want)
	obj, err := DecodeObject(doc)
	switch {
	case err != nil && wantErr != nil:
		return ""
	case err != nil:
		return "DecodeObject refused it: " + err.Error()
	case wantErr != nil:
		return "DecodeObject accepted what Kubernetes refuses: " + wantErr.Error()
	}
	got, _ := json.Marshal(obj.Native())
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		return "Native() = " + string(got) + ", want " + string(wantJSON)
	}
	if eq := types.Equal(obj.Value(), types.DefaultTypeAdapter.NativeToValue(want)); eq != types.True {
		return "the CEL values differ"
	}
	return ""
}

// FuzzDecodeObject compares DecodeObject with Kubernetes' JSON decoding.
func FuzzDecodeObject(f *testing.F) {
	realistic, err := os.ReadFile("testdata/vmi-realistic.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{string(realistic), `{"a":[1,"two",3.5,null,false,{"b":[]}]}`, `{"k\u00e9y":"\ud83d\ude00","k":1e400}`, `{"dup":1,"dup":{"x":2}}`, `[9223372036854775808, -0.0]`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if msg := compareWithKubernetesJSON(doc); msg != "" {
			t.Fatalf("%q: %s", doc, msg)
		}
	})
}

// TestNodeSize keeps the node at the size object.go's comment promises: the
// nodes are most of the bytes an admission allocates.
func TestNodeSize(t *testing.T) {
	if size := unsafe.Sizeof(jsonNode{}); size != 32 {
		t.Errorf("a jsonNode is %d bytes, want 32", size)
	}
}

func TestDecodeObjectRejectsInvalidJSON(t *testing.T) {
	for _, doc := range []string{``, `{`, `{"a"}`, `{"a":}`, `[1,]`, `[1 2]`, `tru`, `01`, `1.`, `"\x"`, `"unterminated`, "\"ctl\x01\"", `{} x`, `-`, `1e`,
		`[`, `{"a":1`, `{"a" 1}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`, `{1:2}`, `[1}`, `{"a":1]`, `-a`, `1e+`, `1.e5`, `.5`, `+1`, `nul`, `fals`, `truex`, `nulll`,
		`00`, `-01`, `"abc\`, `"\u12`, `"\u123"`, `"\u12g4"`, `"\ud800\`, `"\ud800\u`, `"\ud800\u12"`, `"\ud800`, "\"\\u0041\x01\"", "\"\\n\x01\"",
		"\"\\n", "\"\xff", `{"a":1}}`, `[]]`, ` `, "\x00", `[1,2`, `{"a":[1,2}`, `"a"x`} {
		if _, err := DecodeObject([]byte(doc)); err == nil {
			t.Errorf("DecodeObject(%q) succeeded, want an error", doc)
		}
	}
}

// TestObjectValueSemantics evaluates expressions against a decoded
// document and against cel-go's value of the same JSON decoded as
// Kubernetes does (what a ValidatingAdmissionPolicy sees): results must be
// identical, errors included.
func TestObjectValueSemantics(t *testing.T) {
	doc := `{"s":"abc","i":3,"big":300,"f":1.5,"b":true,"n":null,"l":["x","y",1,2.0],"nums":[3,1,2],
		"m":{"k":"v","n":{"deep":[{"a":1},{"a":2}]}},"empty":{},"el":[]}`
	obj, err := DecodeObject([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var native any
	if err := utiljson.Unmarshal([]byte(doc), &native); err != nil {
		t.Fatal(err)
	}
	reference := types.DefaultTypeAdapter.NativeToValue(native)

	env, err := cel.NewEnv(cel.Variable("o", cel.DynType), cel.OptionalTypes())
	if err != nil {
		t.Fatal(err)
	}
	exprs := []string{
		`o.s`, `o.i + 1`, `o.big * 2`, `o.f * 2.0`, `o.b`, `o.n == null`, `o.l`, `o.l[0]`, `o.l[2]`, `o.l[3] == 2`, `o.l[1.0]`,
		`o.l[9]`, `o.l[-1]`, `o.missing`, `o.m.k`, `o.m['k']`, `o.m.n.deep[1].a`, `has(o.m.k)`, `has(o.m.zz)`,
		`'k' in o.m`, `'zz' in o.m`, `1 in o.m`, `'x' in o.l`, `1 in o.l`, `2 in o.l`, `2.0 in o.l`, `'z' in o.l`,
		`size(o.l)`, `size(o.m)`, `size(o.empty)`, `o.l.all(x, x != 'q')`, `o.m.exists(k, k == 'n')`, `o.nums.map(x, x * 2)`,
		`o.l + ['z']`, `o.el + o.nums`, `o.m == {'k': 'v', 'n': {'deep': [{'a': 1}, {'a': 2}]}}`, `o.m == o.m`, `o.l == ['x', 'y', 1, 2]`,
		`o.l == o.l`, `o.empty == {}`, `o.el == []`, `o.m != o.empty`, `type(o.m) == map`, `type(o.l) == list`, `o.?m.?k.orValue('d')`,
		`o.?m.?zz.orValue('d')`, `o.l.exists_one(x, x == 'x')`, `o.m.n.deep.filter(d, d.a > 1).size()`, `dyn(o.m).k`, `o.s.startsWith('a')`,
		`o.m[1]`, `o.i == 3.0`, `o.nums.sum()`, `5 in o.l`, `5 in o.nums`, `1.0 in o.nums`, `o.l[o.i - 3]`, `o.nums[o.i - 1]`,
		`o.nums[o.i]`, `o.nums[o.i - 4]`,
	}
	for _, expr := range exprs {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			if strings.Contains(iss.Err().Error(), "undeclared reference to 'sum'") {
				continue
			}
			t.Fatalf("%s: %v", expr, iss.Err())
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		got, _, gotErr := prg.Eval(map[string]any{"o": obj.Value()})
		want, _, wantErr := prg.Eval(map[string]any{"o": reference})
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Errorf("%s: error %v, reference error %v", expr, gotErr, wantErr)
			continue
		}
		if gotErr == nil && !sameValue(got, want) {
			t.Errorf("%s = %v, reference %v", expr, got, want)
		}
	}
}

func sameValue(a, b ref.Val) bool {
	if a.Type() != b.Type() {
		return false
	}
	return types.Equal(a, b) == types.True
}

func TestObjectLabelsAndMetadata(t *testing.T) {
	obj, err := DecodeObject([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"n","namespace":"ns","labels":{"a":"1"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if obj.Name() != "n" || obj.Namespace() != "ns" || obj.Kind() != "ConfigMap" || obj.APIVersion() != "v1" {
		t.Errorf("metadata accessors: %q %q %q %q", obj.Name(), obj.Namespace(), obj.Kind(), obj.APIVersion())
	}
	l := obj.Labels()
	if !l.Has("a") || l.Get("a") != "1" || l.Has("b") {
		t.Errorf("labels: %v %v %v", l.Has("a"), l.Get("a"), l.Has("b"))
	}
	var none *Object
	if none.Labels().Has("a") || none.Name() != "" || none.Value() != types.NullValue {
		t.Error("nil Object should read as empty")
	}
}

// The list and map values index, iterate and stop as the traits they
// implement promise, for callers outside the planner's own qualifiers.
func TestListAndMapValueAccess(t *testing.T) {
	obj, err := DecodeObject([]byte(`{"l":["a","b","c"],"m":{"x":1,"y":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	root := obj.Value().(traits.Mapper)
	l := root.Get(types.String("l")).(traits.Lister)
	for i, want := range []string{"a", "b", "c"} {
		if got := l.Get(types.Int(i)); got != types.String(want) {
			t.Errorf("l[%d] = %v, want %q", i, got, want)
		}
	}
	for _, i := range []int{-1, 3} {
		if got := l.Get(types.Int(i)); !types.IsError(got) {
			t.Errorf("l[%d] = %v, want an out of range error", i, got)
		}
	}
	for name, it := range map[string]traits.Iterator{"list": l.Iterator(), "map": root.Get(types.String("m")).(traits.Mapper).Iterator()} {
		n := 0
		for it.HasNext() == types.True {
			if it.Next() == nil {
				t.Fatalf("%s: Next returned nil before the end", name)
			}
			n++
		}
		if it.Next() != nil || it.Next() != nil {
			t.Errorf("%s: Next after the end is not nil", name)
		}
		if want := map[string]int{"list": 3, "map": 2}[name]; n != want {
			t.Errorf("%s: %d elements, want %d", name, n, want)
		}
	}
}

// Metadata and labels read as empty when they are missing or not of the
// shape Kubernetes gives them, and a nil Object is an empty one.
func TestObjectAccessorsOnOddDocuments(t *testing.T) {
	for _, doc := range []string{
		`{"metadata":{"name":1,"namespace":null,"labels":["a"]},"kind":{},"apiVersion":[]}`,
		`{"metadata":"x"}`, `[]`, `"s"`, `null`, `{"metadata":{"labels":{"a":1,"b":null}}}`,
	} {
		obj := decode(t, doc)
		if obj.Name() != "" || obj.Namespace() != "" || obj.Kind() != "" || obj.APIVersion() != "" {
			t.Errorf("%s: %q %q %q %q", doc, obj.Name(), obj.Namespace(), obj.Kind(), obj.APIVersion())
		}
		if l := obj.Labels(); l.Has("a") || l.Has("b") || l.Get("a") != "" {
			t.Errorf("%s: labels a %v b %v", doc, l.Has("a"), l.Has("b"))
		}
	}
	// The last of repeated members wins, as in encoding/json.
	obj := decode(t, `{"metadata":{"name":"first","labels":{"a":"1","a":"2"},"name":"last"}}`)
	if obj.Name() != "last" || obj.Labels().Get("a") != "2" {
		t.Errorf("repeated members: %q %q", obj.Name(), obj.Labels().Get("a"))
	}
	var none *Object
	if none.Native() != nil || none.Size() != 0 || none.Kind() != "" || none.APIVersion() != "" || none.Namespace() != "" || none.Labels().Has("a") {
		t.Error("a nil Object should read as empty")
	}
	if obj := decode(t, ` {"a":1} `); obj.Size() != 9 || fmt.Sprint(obj.Native()) != "map[a:1]" {
		t.Errorf("size %d, native %v", obj.Size(), obj.Native())
	}
}
