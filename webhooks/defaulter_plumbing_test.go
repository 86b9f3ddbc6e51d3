package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/webhooks/vmirules"
)

// handWrittenDefaulter is the /mutate-vmi handler as it was before
// NewVMIDefaulter used controller-runtime's defaulter: the reference the
// swap is held to.
type handWrittenDefaulter struct{ decoder admission.Decoder }

func (h handWrittenDefaulter) Handle(_ context.Context, req admission.Request) admission.Response {
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := h.decoder.Decode(req, vmi); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the VirtualMachineInstance: %w", err))
	}
	vmirules.Default(vmi)
	defaulted, err := json.Marshal(vmi)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encoding the defaulted VirtualMachineInstance: %w", err))
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, defaulted)
}

// sortedOps orders a patch: jsonpatch.CreatePatch walks maps, so the same
// two documents can give the same operations in another order.
func sortedOps(ops []jsonpatch.JsonPatchOperation) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = fmt.Sprintf("%s %s %#v", op.Operation, op.Path, op.Value)
	}
	slices.Sort(out)
	return out
}

// TestDefaulterMatchesHandWritten holds NewVMIDefaulter to the hand-written
// handler it replaced: the same decision and the same patch (so the same
// audit record) for every body, the fuzz corpus included; for a body that
// does not decode, the same 400 with the message less its old prefix.
func TestDefaulterMatchesHandWritten(t *testing.T) {
	s := scheme(t)
	realistic, err := os.ReadFile("../policies/testdata/vmi-realistic.json")
	if err != nil {
		t.Fatal(err)
	}
	bodies := []string{
		minimalVMI,
		string(realistic),
		// Fields the Go type drops (unknown, or omitempty and zero): the
		// hand-written patch removes them.
		strings.Replace(minimalVMI, `"spec":{`, `"spec":{"hostname":"","notAField":1,`, 1),
		`{"spec":`,
		`{"apiVersion":"v1","kind":"Pod"}`,
	}
	// An already-defaulted VMI, as on reinvocation.
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := json.Unmarshal([]byte(minimalVMI), vmi); err != nil {
		t.Fatal(err)
	}
	vmirules.Default(vmi)
	defaulted, _ := json.Marshal(vmi)
	bodies = append(bodies, string(defaulted))
	corpus, _ := filepath.Glob("testdata/fuzz/FuzzVMIAdmission/*")
	for _, f := range corpus {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[1]), "[]byte(")
		if !ok {
			t.Fatalf("%s: not a []byte corpus entry", f)
		}
		body, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		bodies = append(bodies, body, `{"apiVersion":"podvirt.io/v1alpha1","kind":"VirtualMachineInstance",`+strings.TrimPrefix(body, "{"))
	}
	got, want := NewVMIDefaulter(s), handWrittenDefaulter{admission.NewDecoder(s)}
	for i, body := range bodies {
		req := request(t, admissionv1.Create, body)
		g, w := got.Handle(context.Background(), req), want.Handle(context.Background(), req)
		if w.Result != nil && w.Result.Code == http.StatusBadRequest {
			if g.Allowed || g.Result == nil || g.Result.Code != http.StatusBadRequest ||
				g.Result.Message != strings.TrimPrefix(w.Result.Message, "decoding the VirtualMachineInstance: ") {
				t.Errorf("body %d %.60q: got %+v, want a 400 like %+v", i, body, g.Result, w.Result)
			}
			continue
		}
		if g.Allowed != w.Allowed || !reflect.DeepEqual(sortedOps(g.Patches), sortedOps(w.Patches)) || !reflect.DeepEqual(g.PatchType, w.PatchType) || !reflect.DeepEqual(g.Result, w.Result) {
			t.Errorf("body %d %.60q:\n got  allowed=%v result=%+v patches=%v\n want allowed=%v result=%+v patches=%v",
				i, body, g.Allowed, g.Result, g.Patches, w.Allowed, w.Result, w.Patches)
		}
	}
}
