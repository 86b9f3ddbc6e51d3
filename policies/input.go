package policies

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/cel/common"
)

// ParamSource finds the parameter objects a policy's paramRef selects, as
// a ValidatingAdmissionPolicyBinding's paramRef does. The webhook backs it
// with informers; tests and podvirtctl use StaticParams.
type ParamSource interface {
	// Params returns the objects of kind named name (when name is not
	// empty) or matching selector, in namespace. For cluster-scoped kinds
	// namespace is the VMI's namespace or paramRef.namespace and should be
	// ignored, unless paramRef.namespace is set, which is an error. No
	// match is an empty result, not an error.
	Params(ctx context.Context, kind admissionregistrationv1.ParamKind, namespace, name string, selector labels.Selector) ([]*Object, error)
}

// Input is one admission request as policies see it. Build it once per
// request with NewInput and evaluate every policy against it. An Input is
// used by one goroutine at a time (its request and namespace values cache
// lazily, as kube-apiserver's do).
type Input struct {
	operation admissionv1.Operation
	object    *Object
	oldObject *Object
	namespace *corev1.Namespace
	params    ParamSource

	objectVal, oldObjectVal ref.Val
	// request is the admission request; requestVal and namespaceVal are
	// built from it and namespace when a policy first reads them (most
	// read neither).
	request                  *admissionv1.AdmissionRequest
	requestVal, namespaceVal ref.Val
	// tier is the size tier of the larger of object and oldObject.
	tier int
}

// requestValue is the `request` variable.
func (in *Input) requestValue() ref.Val {
	if in.requestVal == nil {
		in.requestVal = common.SchemalessTypedToVal(celRequest(in.request))
	}
	return in.requestVal
}

// namespaceValue is the `namespaceObject` variable.
func (in *Input) namespaceValue() ref.Val {
	if in.namespaceVal == nil {
		in.namespaceVal = types.NullValue
		if in.namespace != nil {
			in.namespaceVal = common.SchemalessTypedToVal(plugincel.CreateNamespaceObject(in.namespace))
		}
	}
	return in.namespaceVal
}

// NewInput prepares an admission request for evaluation: it decodes the
// object and oldObject, and builds the `request` and `namespaceObject`
// values exactly as kube-apiserver does for a ValidatingAdmissionPolicy.
// namespace is the VMI's Namespace (nil when unknown); params resolves
// paramRef (nil: no parameter objects exist).
func NewInput(req *admissionv1.AdmissionRequest, namespace *corev1.Namespace, params ParamSource) (*Input, error) {
	var object, oldObject *Object
	var err error
	if len(req.Object.Raw) > 0 {
		if object, err = DecodeObject(req.Object.Raw); err != nil {
			return nil, fmt.Errorf("decoding the request's object: %w", err)
		}
	}
	if len(req.OldObject.Raw) > 0 {
		if oldObject, err = DecodeObject(req.OldObject.Raw); err != nil {
			return nil, fmt.Errorf("decoding the request's oldObject: %w", err)
		}
	}
	return newInput(req, object, oldObject, namespace, params), nil
}

// NewDecodedInput is NewInput for a request whose object and oldObject (nil
// when absent) the caller decoded already with DecodeObject, so that a
// webhook parses each once for its own checks and for the policies.
func NewDecodedInput(req *admissionv1.AdmissionRequest, object, oldObject *Object, namespace *corev1.Namespace, params ParamSource) *Input {
	return newInput(req, object, oldObject, namespace, params)
}

// NewInputFromObjects prepares an evaluation without an admission request,
// for offline tests and background audits: the request variable is built
// from the operation, the objects and userInfo.
func NewInputFromObjects(op admissionv1.Operation, object, oldObject *Object, namespace *corev1.Namespace, userInfo *RequestUser, params ParamSource) *Input {
	req := &admissionv1.AdmissionRequest{
		Kind:      requestKind,
		Resource:  requestResource,
		Operation: op,
		Name:      object.Name(),
		Namespace: object.Namespace(),
	}
	if object == nil {
		req.Name, req.Namespace = oldObject.Name(), oldObject.Namespace()
	}
	if userInfo != nil {
		req.UserInfo.Username = userInfo.Username
		req.UserInfo.UID = userInfo.UID
		req.UserInfo.Groups = userInfo.Groups
	}
	return newInput(req, object, oldObject, namespace, params)
}

// RequestUser is the user of an offline request.
type RequestUser struct {
	Username string   `json:"username,omitempty"`
	UID      string   `json:"uid,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

func newInput(req *admissionv1.AdmissionRequest, object, oldObject *Object, namespace *corev1.Namespace, params ParamSource) *Input {
	return &Input{
		operation:    req.Operation,
		object:       object,
		oldObject:    oldObject,
		namespace:    namespace,
		params:       params,
		objectVal:    object.Value(),
		oldObjectVal: oldObject.Value(),
		request:      req,
		tier:         tierFor(max(object.Size(), oldObject.Size())),
	}
}

// requestKind and requestResource are what a VMI request carries.
var (
	requestKind     = metav1GVK("podvirt.io", "v1alpha1", "VirtualMachineInstance")
	requestResource = metav1GVR("podvirt.io", "v1alpha1", "virtualmachineinstances")
)

// celRequest copies the fields of an AdmissionRequest that the `request`
// variable exposes, as kube-apiserver's CreateAdmissionRequest does: no
// uid, no object or oldObject (those are variables of their own).
func celRequest(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionRequest {
	out := &admissionv1.AdmissionRequest{
		Kind:               req.Kind,
		Resource:           req.Resource,
		SubResource:        req.SubResource,
		RequestKind:        req.RequestKind,
		RequestResource:    req.RequestResource,
		RequestSubResource: req.RequestSubResource,
		Name:               req.Name,
		Namespace:          req.Namespace,
		Operation:          req.Operation,
		UserInfo:           req.UserInfo,
		DryRun:             req.DryRun,
		Options:            req.Options,
	}
	if out.RequestKind == nil {
		k := out.Kind
		out.RequestKind = &k
	}
	if out.RequestResource == nil {
		r := out.Resource
		out.RequestResource = &r
	}
	if out.DryRun == nil {
		dryRun := false
		out.DryRun = &dryRun
	}
	return out
}

// ParamObject converts a parameter object read from the API (a ConfigMap,
// an unstructured custom resource, ...) for evaluation. As kube-apiserver
// does, apiVersion and kind are filled from kind when the object lacks them.
func ParamObject(obj runtime.Object, kind admissionregistrationv1.ParamKind) (*Object, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding the parameter object: %w", err)
	}
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("decoding the parameter object: %w", err)
		}
		m["apiVersion"], m["kind"] = kind.APIVersion, kind.Kind
		if raw, err = json.Marshal(m); err != nil {
			return nil, fmt.Errorf("encoding the parameter object: %w", err)
		}
	}
	return DecodeObject(raw)
}

// activation resolves the CEL variables of one policy evaluation.
type activation struct {
	in     *Input
	params ref.Val
	// namespaceVisible is false while matchConditions run.
	namespaceVisible bool
	variables        *lazyVariables
}

var _ interpreter.Activation = (*activation)(nil)

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varObject:
		return a.in.objectVal, true
	case varOldObject:
		return a.in.oldObjectVal, true
	case varParams:
		return a.params, true
	case varRequest:
		return a.in.requestValue(), true
	case varNamespace:
		if !a.namespaceVisible {
			// matchConditions see no namespaceObject, as in kube-apiserver.
			return types.NullValue, true
		}
		return a.in.namespaceValue(), true
	case varVariables:
		if a.variables == nil {
			return noVariables, true
		}
		return a.variables, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// noVariables is `variables` of a policy without variables.
var noVariables = types.NewStringInterfaceMap(types.DefaultTypeAdapter, map[string]any{})

// lazyVariables is `variables`: each variable is evaluated on first use
// and at most once per evaluation.
type lazyVariables struct {
	ctx    context.Context
	policy *CompiledPolicy
	act    *activation
	frame  *interpreter.ExecutionFrame
	track  bool
	values []ref.Val
	// cost is the cost of the variables evaluated since it was last reset.
	cost uint64
}

var _ traits.Mapper = (*lazyVariables)(nil)

func (v *lazyVariables) index(key ref.Val) int {
	name, ok := key.(types.String)
	if !ok {
		return -1
	}
	for i := range v.policy.variables {
		if v.policy.variables[i].name == string(name) {
			return i
		}
	}
	return -1
}

func (v *lazyVariables) resolve(i int) ref.Val {
	if v.values[i] != nil {
		return v.values[i]
	}
	nv := &v.policy.variables[i]
	var val ref.Val
	if nv.expr == nil {
		val = types.NewErr("composited variable %q fails to compile", nv.name)
	} else {
		r := nv.expr.eval(v.ctx, v.act, v.frame, v.track)
		v.cost = saturatingAdd(v.cost, r.cost)
		if r.err != nil {
			val = types.NewErr("composited variable %q fails to evaluate: %v", nv.name, r.err)
		} else {
			val = r.val
		}
	}
	v.values[i] = val
	return val
}

// Find implements traits.Mapper.
func (v *lazyVariables) Find(key ref.Val) (ref.Val, bool) {
	i := v.index(key)
	if i < 0 {
		return nil, false
	}
	return v.resolve(i), true
}

// Get implements traits.Indexer.
func (v *lazyVariables) Get(key ref.Val) ref.Val {
	val, found := v.Find(key)
	if !found {
		return types.NewErr("no such key: %v", key)
	}
	return val
}

// Contains implements traits.Container.
func (v *lazyVariables) Contains(key ref.Val) ref.Val { return types.Bool(v.index(key) >= 0) }

// Size implements traits.Sizer.
func (v *lazyVariables) Size() ref.Val { return types.Int(len(v.policy.variables)) }

// Iterator implements traits.Iterable.
func (v *lazyVariables) Iterator() traits.Iterator {
	names := make([]ref.Val, len(v.policy.variables))
	for i := range names {
		names[i] = types.String(v.policy.variables[i].name)
	}
	return types.NewRefValList(types.DefaultTypeAdapter, names).Iterator()
}

// ConvertToNative implements ref.Val.
func (v *lazyVariables) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return nil, fmt.Errorf("variables cannot be converted to %v", typeDesc)
}

// ConvertToType implements ref.Val.
func (v *lazyVariables) ConvertToType(typeVal ref.Type) ref.Val {
	switch typeVal {
	case types.MapType:
		return v
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from '%s' to '%s'", types.MapType, typeVal)
}

// Equal implements ref.Val: variables equal only themselves.
func (v *lazyVariables) Equal(other ref.Val) ref.Val { return types.Bool(v == other) }

// Type implements ref.Val.
func (v *lazyVariables) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (v *lazyVariables) Value() any { return v }

func metav1GVK(group, version, kind string) metav1.GroupVersionKind {
	return metav1.GroupVersionKind{Group: group, Version: version, Kind: kind}
}

func metav1GVR(group, version, resource string) metav1.GroupVersionResource {
	return metav1.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

// size is the size in bytes of the larger of object and oldObject.
func (in *Input) size() int { return max(in.object.Size(), in.oldObject.Size()) }
