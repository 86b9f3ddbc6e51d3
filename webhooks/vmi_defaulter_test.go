package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gomodules.xyz/jsonpatch/v2"
	jsonpatchv4 "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/webhooks/vmirules"
)

// controllerRuntimeDefaulter is the /mutate-vmi handler VMIDefaulter
// replaced: controller-runtime's defaulter, whose patch is the whole
// difference between the request and the defaulted VMI's Go encoding. It
// is the reference the new handler's results are held to, and the
// "before" of BenchmarkMutatingHandler.
func controllerRuntimeDefaulter(s *runtime.Scheme) admission.Handler {
	return admission.WithDefaulter[*v1alpha1.VirtualMachineInstance](s, crDefaulter{}, admission.DefaulterRemoveUnknownOrOmitableFields).Handler
}

type crDefaulter struct{}

func (crDefaulter) Default(_ context.Context, vmi *v1alpha1.VirtualMachineInstance) error {
	vmirules.Default(vmi)
	return nil
}

// defaulterBodies are request objects: the handlers' test VMIs, the
// examples, the KubeVirt user guide's VMIs and the fuzz corpus (each also
// with apiVersion and kind, which most corpus entries lack).
func defaulterBodies(t testing.TB) []string {
	t.Helper()
	realistic, err := os.ReadFile("../policies/testdata/vmi-realistic.json")
	if err != nil {
		t.Fatal(err)
	}
	bodies := []string{
		minimalVMI,
		string(realistic),
		// Members the Go type drops (unknown, or omitempty and zero) and
		// nulls: left as the request has them.
		strings.Replace(minimalVMI, `"spec":{`, `"spec":{"hostname":"","notAField":1,"evictionStrategy":null,`, 1),
		// A member whose parent is null, a machine type of "" (defaulted
		// too), a port without a protocol inside an existing list.
		`{"apiVersion":"podvirt.io/v1alpha1","kind":"VirtualMachineInstance","metadata":{"name":"n"},"spec":{"domain":{"machine":{"type":""},"cpu":null,"memory":{"guest":"1Gi"},"devices":{"interfaces":[{"name":"default","masquerade":{},"ports":[{"port":80},{"port":53,"protocol":"UDP"}]}]}},"networks":[{"name":"default","pod":{}}]}}`,
		// Label keys that need escaping in a JSON pointer.
		`{"apiVersion":"podvirt.io/v1alpha1","kind":"VirtualMachineInstance","metadata":{"name":"n"},"spec":{"nodeSelector":{"kubernetes.io/arch":"amd64","a~b":"c"},"domain":{"memory":{"guest":"1Gi"}}}}`,
		`{"spec":`,
		`{"apiVersion":"v1","kind":"Pod"}`,
		``,
	}
	var files []string
	for _, g := range []string{"../examples/*.yaml", "../test/e2e/testdata/kubevirt-docs/*.yaml", "../test/e2e/testdata/kubevirt-docs/refused/*.yaml"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				break
			}
			if doc["kind"] != "VirtualMachineInstance" {
				continue
			}
			b, _ := json.Marshal(doc)
			bodies = append(bodies, string(b))
		}
	}
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
	return bodies
}

// applyPatch applies a handler's patch the way the kube-apiserver does
// (evanphx/json-patch v4) and decodes the result.
func applyPatch(t *testing.T, raw []byte, ops []jsonpatch.Operation) ([]byte, *v1alpha1.VirtualMachineInstance, error) {
	t.Helper()
	if len(ops) == 0 {
		vmi, err := decodeVMIRaw(raw)
		return raw, vmi, err
	}
	p, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatchv4.DecodePatch(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := patch.Apply(raw)
	if err != nil {
		return nil, nil, err
	}
	vmi, err := decodeVMIRaw(out)
	return out, vmi, err
}

// TestDefaulterPatchIsMinimal holds /mutate-vmi to what it promises for
// every body: the patched object decodes to the defaulted VMI (the result
// controller-runtime's defaulter, which it replaced, gave too); every
// operation is needed (without any one of them the result differs); a VMI
// that needs no default, the patched one included, gets no patch; and a
// body that does not decode to a VMI is a 400.
func TestDefaulterPatchIsMinimal(t *testing.T) {
	h, old := NewVMIDefaulter(), controllerRuntimeDefaulter(scheme(t))
	decodable := 0
	for i, body := range defaulterBodies(t) {
		raw := []byte(body)
		req := request(t, admissionv1.Create, body)
		resp := h.Handle(context.Background(), req)
		want, err := decodeVMIRaw(raw)
		if err != nil {
			if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusBadRequest {
				t.Errorf("body %d %.60q does not decode (%v): got allowed=%v result=%+v, want a 400", i, body, err, resp.Allowed, resp.Result)
			}
			continue
		}
		decodable++
		if !resp.Allowed {
			t.Errorf("body %d %.60q: denied: %+v", i, body, resp.Result)
			continue
		}
		vmirules.Default(want)
		patched, got, err := applyPatch(t, raw, resp.Patches)
		if err != nil {
			t.Errorf("body %d %.60q: the patch %v does not apply: %v", i, body, resp.Patches, err)
			continue
		}
		if !equality.Semantic.DeepEqual(got.Spec, want.Spec) || !equality.Semantic.DeepEqual(got.ObjectMeta, want.ObjectMeta) {
			t.Errorf("body %d %.60q: patched spec\n %+v\nwant the defaulted\n %+v", i, body, got.Spec, want.Spec)
		}
		if oldResp := old.Handle(context.Background(), req); oldResp.Allowed {
			if _, viaOld, err := applyPatch(t, raw, oldResp.Patches); err != nil || !equality.Semantic.DeepEqual(viaOld.Spec, got.Spec) {
				t.Errorf("body %d %.60q: controller-runtime's patch gives another spec (%v)", i, body, err)
			}
		}
		for j := range resp.Patches {
			less := append(append([]jsonpatch.Operation{}, resp.Patches[:j]...), resp.Patches[j+1:]...)
			if _, without, err := applyPatch(t, raw, less); err == nil && equality.Semantic.DeepEqual(without.Spec, want.Spec) {
				t.Errorf("body %d %.60q: operation %+v is not needed", i, body, resp.Patches[j])
			}
		}
		again := h.Handle(context.Background(), request(t, admissionv1.Create, string(patched)))
		if !again.Allowed || len(again.Patches) != 0 || again.PatchType != nil {
			t.Errorf("body %d %.60q: the defaulted VMI got allowed=%v patch %v, want none", i, body, again.Allowed, again.Patches)
		}
	}
	if decodable < 30 {
		t.Fatalf("only %d bodies decoded", decodable)
	}
}

// TestDefaulterTinyPatch pins the patch examples/vmi-tiny.yaml gets: the
// seven defaults it needs, nothing else (controller-runtime's defaulter
// also sent `add /status {}`). Run with -v to see it.
func TestDefaulterTinyPatch(t *testing.T) {
	y, err := os.ReadFile("../examples/vmi-tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	resp := NewVMIDefaulter().Handle(context.Background(), request(t, admissionv1.Create, string(raw)))
	got, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("vmi-tiny's patch: %s", got)
	want := `[{"op":"add","path":"/spec/domain/cpu/sockets","value":1},{"op":"add","path":"/spec/domain/cpu/threads","value":1},` +
		`{"op":"add","path":"/spec/domain/devices/autoattachSerialConsole","value":true},` +
		`{"op":"add","path":"/spec/domain/features","value":{"acpi":{"enabled":true}}},` +
		`{"op":"add","path":"/spec/domain/firmware/kernelBoot/container/imagePullPolicy","value":"Always"},` +
		`{"op":"add","path":"/spec/domain/machine","value":{"type":"q35"}},` +
		`{"op":"add","path":"/spec/domain/resources","value":{"requests":{"memory":"128Mi"}}},` +
		`{"op":"add","path":"/spec/evictionStrategy","value":"None"}]`
	if string(got) != want {
		t.Errorf("vmi-tiny's patch\n %s\nwant\n %s", got, want)
	}
	old := controllerRuntimeDefaulter(scheme(t)).Handle(context.Background(), request(t, admissionv1.Create, string(raw)))
	oldJSON, _ := json.Marshal(old.Patches)
	t.Logf("controller-runtime's defaulter sent: %s", oldJSON)
}

// TestDefaulterKeepsTheRequestsSpelling: a member defaulting leaves alone
// stays as the request wrote it, a quantity's notation included
// (controller-runtime's defaulter rewrote 1.5Gi as 1536Mi).
func TestDefaulterKeepsTheRequestsSpelling(t *testing.T) {
	body := strings.Replace(minimalVMI, `"guest":"128Mi"`, `"guest":"1.5Gi"`, 1)
	resp := NewVMIDefaulter().Handle(context.Background(), request(t, admissionv1.Create, body))
	patched, _, err := applyPatch(t, []byte(body), resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Spec struct {
			Domain struct {
				Memory struct {
					Guest string `json:"guest"`
				} `json:"memory"`
				Resources struct {
					Requests map[string]string `json:"requests"`
				} `json:"resources"`
			} `json:"domain"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(patched, &doc); err != nil {
		t.Fatal(err)
	}
	if g := doc.Spec.Domain.Memory.Guest; g != "1.5Gi" {
		t.Errorf("guest memory %q after the patch, want the request's 1.5Gi", g)
	}
	if r := doc.Spec.Domain.Resources.Requests["memory"]; r != "1536Mi" {
		t.Errorf("the defaulted memory request is %q, want 1536Mi", r)
	}
	old := controllerRuntimeDefaulter(scheme(t)).Handle(context.Background(), request(t, admissionv1.Create, body))
	rewrote := false
	for _, op := range old.Patches {
		rewrote = rewrote || op.Path == "/spec/domain/memory/guest"
	}
	if !rewrote {
		t.Log("controller-runtime's defaulter no longer rewrites the guest memory")
	}
}
