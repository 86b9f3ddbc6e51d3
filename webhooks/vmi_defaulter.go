package webhooks

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/webhooks/vmirules"
)

// VMIDefaulter answers /mutate-vmi: vmirules.Default as a JSON patch of
// the request's object, holding only what defaulting changed.
//
//   - A VMI that defaulting leaves as it is (written out in full, created
//     from an already defaulted template, or seen again on reinvocation)
//     is allowed with no patch at all, so the kube-apiserver has nothing
//     to apply, decode and default again.
//   - Otherwise the patch adds, replaces or removes exactly the members
//     whose defaulted value differs from the request's (a missing parent
//     is added whole, with the defaults inside it); members the Go type
//     would spell differently (a quantity's notation, an empty member Go
//     omits, a status the request has not) are left as the request wrote
//     them.
//
// It replaced controller-runtime's admission.WithDefaulter (with
// DefaulterRemoveUnknownOrOmitableFields), whose patch was the whole
// difference between the request's JSON and the defaulted VMI's Go
// encoding: `add /status` on every create, and a patch even for a VMI
// that needed no default (issue #16: the apiserver's cost of applying a
// patch is per patch more than per operation). TestDefaulterPatchIsMinimal
// holds it to the old handler's result: the patched object decodes to the
// same defaulted VMI.
type VMIDefaulter struct{}

// NewVMIDefaulter returns the /mutate-vmi handler.
func NewVMIDefaulter() admission.Handler { return VMIDefaulter{} }

// Handle implements admission.Handler.
func (VMIDefaulter) Handle(_ context.Context, req admission.Request) admission.Response {
	raw := req.Object.Raw
	vmi, err := decodeVMIRaw(raw)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the VirtualMachineInstance: %w", err))
	}
	spec := vmi.Spec.DeepCopy()
	vmirules.Default(vmi)
	if equality.Semantic.DeepEqual(*spec, vmi.Spec) {
		return admission.Allowed("")
	}
	ops, err := specPatch(raw, spec, &vmi.Spec)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("computing the defaults' patch: %w", err))
	}
	if len(ops) == 0 {
		// Different Go values with one JSON encoding: nothing to send.
		return admission.Allowed("")
	}
	return admission.Patched("", ops...)
}

// decodeVMIRaw decodes a VMI the way the API machinery's JSON serializer
// does (sigs.k8s.io/json: member names case-sensitive), and, like its
// decoders, requires apiVersion and kind to name a VirtualMachineInstance.
func decodeVMIRaw(raw []byte) (*v1alpha1.VirtualMachineInstance, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("there is no content to decode")
	}
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, vmi); err != nil {
		return nil, err
	}
	if vmi.APIVersion != v1alpha1.GroupVersion.String() || vmi.Kind != "VirtualMachineInstance" {
		return nil, fmt.Errorf("apiVersion %q, kind %q: want %s, VirtualMachineInstance", vmi.APIVersion, vmi.Kind, v1alpha1.GroupVersion)
	}
	return vmi, nil
}

// specPatch returns the operations that turn raw's spec into defaulted's,
// touching only where orig (raw's spec as decoded) and defaulted differ.
// The paths are raw's: a member is added where raw lacks it (or holds
// null), replaced where it holds another value.
func specPatch(raw []byte, orig, defaulted *v1alpha1.VirtualMachineInstanceSpec) ([]jsonpatch.Operation, error) {
	var doc map[string]any
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &doc); err != nil {
		return nil, err
	}
	o, err := runtime.DefaultUnstructuredConverter.ToUnstructured(orig)
	if err != nil {
		return nil, err
	}
	d, err := runtime.DefaultUnstructuredConverter.ToUnstructured(defaulted)
	if err != nil {
		return nil, err
	}
	var p patcher
	rawSpec, ok := doc["spec"]
	if !ok || rawSpec == nil {
		p.op("add", "/spec", d)
	} else {
		p.diff("/spec", rawSpec, o, d)
	}
	return p.ops, nil
}

// patcher collects the operations of a three-way walk: raw (the request's
// JSON as decoded), orig (the Go value raw decodes to, as unstructured)
// and def (the defaulted Go value, as unstructured). Subtrees where orig
// and def are equal are not visited: the request's text stays as it is.
type patcher struct{ ops []jsonpatch.Operation }

func (p *patcher) op(op, path string, value any) {
	p.ops = append(p.ops, jsonpatch.Operation{Operation: op, Path: path, Value: value})
}

// diff patches the value at path, which raw holds (not null), from orig to
// def; orig and def differ.
func (p *patcher) diff(path string, raw, orig, def any) {
	switch dv := def.(type) {
	case map[string]any:
		rm, ok := raw.(map[string]any)
		if !ok {
			p.op("replace", path, def)
			return
		}
		om, _ := orig.(map[string]any)
		for _, k := range unionKeys(om, dv) {
			ov, inOrig := om[k]
			nv, inDef := dv[k]
			if inOrig == inDef && (!inDef || jsonEqual(ov, nv)) {
				continue
			}
			rv, inRaw := rm[k]
			member := path + "/" + escapePointer(k)
			switch {
			case !inDef:
				if inRaw {
					p.op("remove", member, nil)
				}
			case !inRaw || rv == nil:
				p.op("add", member, nv)
			default:
				p.diff(member, rv, ov, nv)
			}
		}
	case []any:
		rl, rok := raw.([]any)
		ol, _ := orig.([]any)
		if !rok || len(rl) != len(ol) || len(dv) < len(ol) {
			p.op("replace", path, def)
			return
		}
		for i := range ol {
			if !jsonEqual(ol[i], dv[i]) {
				elem := path + "/" + strconv.Itoa(i)
				if rl[i] == nil {
					p.op("replace", elem, dv[i])
				} else {
					p.diff(elem, rl[i], ol[i], dv[i])
				}
			}
		}
		for _, v := range dv[len(ol):] {
			p.op("add", path+"/-", v)
		}
	default:
		p.op("replace", path, def)
	}
}

func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // a stable patch: the same request, the same bytes
	return keys
}

// jsonEqual compares two unstructured values (maps, slices, strings,
// bools, int64, float64, nil).
func jsonEqual(a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, x := range av {
			y, ok := bv[k]
			if !ok || !jsonEqual(x, y) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !jsonEqual(av[i], bv[i]) {
				return false
			}
		}
		return true
	case string:
		bv, ok := b.(string)
		return ok && av == bv
	case bool:
		bv, ok := b.(bool)
		return ok && av == bv
	case int64:
		bv, ok := b.(int64)
		return ok && av == bv
	case float64:
		bv, ok := b.(float64)
		return ok && av == bv
	case nil:
		return b == nil
	}
	return false
}

// escapePointer escapes a member name for a JSON pointer (RFC 6901).
func escapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}
