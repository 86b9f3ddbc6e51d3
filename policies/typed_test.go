package policies

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/podvirt/podvirt/crds/v1alpha1"
)

// typedSeeds are VMI documents: the realistic one and the examples.
func typedSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	raw, err := os.ReadFile("testdata/vmi-realistic.json")
	if err != nil {
		tb.Fatal(err)
	}
	// As kube-apiserver sends it: server-set metadata, managedFields.
	served := strings.Replace(string(raw), `"metadata":{`, `"metadata":{"generation":1,"resourceVersion":"4711",`+
		`"finalizers":["podvirt.io/launcher"],"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"o","uid":"u","controller":true}],`+
		`"managedFields":[{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"podvirt.io/v1alpha1",`+
		`"time":"2024-05-01T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{}}}],`, 1)
	seeds := [][]byte{raw, []byte(served)}
	files, _ := filepath.Glob("../examples/*.yaml")
	for _, f := range files {
		y, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(y)
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		seeds = append(seeds, j)
	}
	return seeds
}

// checkTyped decodes data into a new T both ways and fails when the fast
// path produced a value sigs.k8s.io/json does not, or rejected nothing
// that it rejects. It reports whether the fast path decoded data.
func checkTyped[T any](t *testing.T, d *TypedDecoder, data []byte) bool {
	t.Helper()
	var want T
	wantErr := kjson.UnmarshalCaseSensitivePreserveInts(data, &want)
	o, err := DecodeObject(data)
	if err != nil {
		if wantErr == nil {
			t.Fatalf("DecodeObject refused what sigs.k8s.io/json accepts: %v\n%q", err, data)
		}
		return false
	}
	var got T
	if !d.decode(o, reflect.ValueOf(&got).Elem()) {
		// The library decodes it: Decode must give its result exactly.
		var viaDecode T
		err := d.Decode(o, &viaDecode)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("Decode error %v, sigs.k8s.io/json %v", err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(viaDecode, want) {
			t.Fatalf("fallback decoded\n%#v\nwant\n%#v", viaDecode, want)
		}
		return false
	}
	if wantErr != nil {
		t.Fatalf("decoded what sigs.k8s.io/json refuses (%v):\n%q", wantErr, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n%#v\nwant\n%#v\nfrom %q", got, want, data)
	}
	return true
}

func TestTypedDecodeVMIs(t *testing.T) {
	var d TypedDecoder
	for _, seed := range typedSeeds(t) {
		if !checkTyped[v1alpha1.VirtualMachineInstance](t, &d, seed) {
			t.Errorf("the fast path did not decode a valid VMI:\n%s", seed)
		}
	}
}

// FuzzTypedDecode compares the decoder with sigs.k8s.io/json on VMIs.
func FuzzTypedDecode(f *testing.F) {
	for _, seed := range typedSeeds(f) {
		f.Add(seed)
	}
	f.Add([]byte(`{"spec":{"domain":{"cpu":{"cores":1.5}}}}`))
	f.Add([]byte(`{"metadata":{"name":"a","name":"b"}}`))
	f.Add([]byte(`{"spec":{"domain":{"memory":{"guest":null}}}}`))
	f.Add([]byte(`{"spec":{"volumes":[{"name":"\xff\u00e9"}]}}`))
	var d TypedDecoder
	f.Fuzz(func(t *testing.T, data []byte) {
		checkTyped[v1alpha1.VirtualMachineInstance](t, &d, data)
	})
}

// Go shapes the VMI types do not all have, decoded both ways.
type (
	embeddedA struct {
		Shared string `json:"shared"`
		OnlyA  int    `json:"onlyA"`
		Both   string
	}
	embeddedB struct {
		Shared string
		Both   string
	}
	namedKey string
	shapes   struct {
		embeddedA
		embeddedB
		Ignored    string               `json:"-"`
		unexported string               //nolint:unused // must be ignored
		Dash       string               `json:"-,"`
		Untagged   bool                 //
		Uint8      uint8                `json:"u8"`
		Float32    float32              `json:"f32"`
		Array      [2]int               `json:"array"`
		Ptr        *int64               `json:"ptr"`
		Map        map[namedKey]*string `json:"map"`
		Slice      []embeddedA          `json:"slice"`
		Quantity   resource.Quantity    `json:"quantity"`
		Time       *metav1.Time         `json:"time"`
		Labels     map[string]string    `json:"labels"`
	}
)

func TestTypedDecodeShapes(t *testing.T) {
	var d TypedDecoder
	for _, c := range []struct {
		doc  string
		fast bool
	}{
		{`{"shared":"a","Shared":"b","Both":"c","onlyA":3}`, true},
		{`{"-":"dash","Ignored":"x","unexported":"y","Untagged":true}`, true},
		{`{"u8":255,"f32":0.1,"array":[1,2,3],"ptr":-7}`, true},
		{`{"array":[1],"ptr":null,"map":{"a":"x","b":null},"slice":[]}`, true},
		{`{"slice":[{"shared":"s"},{}],"quantity":"1.5Gi","time":"2024-05-01T10:00:00Z"}`, true},
		{`{"quantity":null,"time":null,"map":null,"slice":null}`, true},
		{`{"quantity":12}`, true},
		{`{"labels":{"a":"x","b":null,"c":""},"Both":"\u00e9\ud800"}`, true},
		{`{"labels":{}}`, true},
		{`{"labels":{"a":1}}`, false},
		// Type errors, overflows and duplicates go to the library.
		{`{"u8":256}`, false},
		{`{"u8":-1}`, false},
		{`{"ptr":1.0}`, false},
		{`{"f32":1e39}`, false},
		{`{"Untagged":"true"}`, false},
		{`{"map":[]}`, false},
		{`{"quantity":"bad"}`, false},
		{`{"shared":"a","shared":"b"}`, false},
	} {
		if got := checkTyped[shapes](t, &d, []byte(c.doc)); got != c.fast {
			t.Errorf("%s: fast path %v, want %v", c.doc, got, c.fast)
		}
	}
}

// BenchmarkDecodeTyped compares, on the realistic VMI, the two decodes the
// validating webhook needs (a typed VMI for the built-in checks, an Object
// for the policies) with one parse shared by both.
func BenchmarkDecodeTyped(b *testing.B) {
	raw, err := os.ReadFile("testdata/vmi-realistic.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("shared-parse", func(b *testing.B) {
		var d TypedDecoder
		b.ReportAllocs()
		for b.Loop() {
			o, err := DecodeObject(raw)
			if err != nil {
				b.Fatal(err)
			}
			var vmi v1alpha1.VirtualMachineInstance
			if err := d.Decode(o, &vmi); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sigs.k8s.io/json+DecodeObject", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeObject(raw); err != nil {
				b.Fatal(err)
			}
			var vmi v1alpha1.VirtualMachineInstance
			if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &vmi); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Field resolution as encoding/json does it: depth, tags, types embedded
// twice at one depth, embedded unexported structs, named embedded structs,
// invalid tag names.
type (
	leaf struct {
		Leaf  string `json:"leaf"`
		Deep  string
		Clash string `json:"clash"`
	}
	left struct {
		leaf
		Side  string `json:"side"`
		Clash string
	}
	right struct {
		leaf
		Side string `json:"rside"`
	}
	hidden int //nolint:unused // an unexported embedded field the decoder must skip
	depths struct {
		left
		right
		hidden          //nolint:unused // see above
		Named    leaf   `json:"named"`
		Deep     string `json:"deep"`
		Odd      string `json:"a\\b"`
		Punct    string `json:"p-q.r"`
		Spaced   string `json:"with space"`
		Unicode  string `json:"é"`
		Emptytag string `json:",omitempty"`
	}
)

func TestTypedDecodeFieldResolution(t *testing.T) {
	var d TypedDecoder
	for _, doc := range []string{
		`{"leaf":"l","Deep":"d","deep":"D","clash":"c","Clash":"C","side":"s","rside":"r"}`,
		`{"named":{"leaf":"n","Deep":"x","clash":"y"},"Named":{"leaf":"m"}}`,
		`{"Odd":"o","a\\b":"x","p-q.r":"p","with space":"w","é":"u","Emptytag":"e","hidden":1}`,
		`{"Leaf":"L","LEAF":"l2","Side":"S"}`,
	} {
		if !checkTyped[depths](t, &d, []byte(doc)) {
			t.Errorf("%s: not decoded by the fast path", doc)
		}
	}
}
