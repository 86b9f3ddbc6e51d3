package policies

import (
	"context"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// check compiles a policy of one validation and evaluates it on in.
func check(t *testing.T, in *Input, expression string) PolicyResult {
	t.Helper()
	cp, errs := compiler(t).Compile(policyFromYAML(t, `spec: {validations: [{expression: "`+expression+`"}]}`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return cp.Evaluate(context.Background(), in)
}

// NewInput decodes the request's object and oldObject; the request
// variable defaults requestKind, requestResource and dryRun as
// kube-apiserver does, and keeps them when the request has them.
func TestNewInput(t *testing.T) {
	oldVMI := strings.Replace(testVMI, `"cores":4`, `"cores":2`, 1)
	dryRun := true
	req := &admissionv1.AdmissionRequest{
		Kind:      requestKind,
		Resource:  requestResource,
		Name:      "vm",
		Namespace: "prod",
		Operation: admissionv1.Update,
		UserInfo:  authenticationv1.UserInfo{Username: "bob"},
		Object:    runtime.RawExtension{Raw: []byte(testVMI)},
		OldObject: runtime.RawExtension{Raw: []byte(oldVMI)},
	}
	in, err := NewInput(req, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{
		"object.spec.domain.cpu.cores == 4 && oldObject.spec.domain.cpu.cores == 2",
		"request.operation == 'UPDATE' && request.name == 'vm' && request.userInfo.username == 'bob'",
		"request.requestKind.kind == 'VirtualMachineInstance' && request.requestResource.resource == 'virtualmachineinstances' && request.dryRun == false",
	} {
		if res := check(t, in, expr); res.Outcome != Passed {
			t.Errorf("%s: %+v", expr, res)
		}
	}

	req.Operation, req.OldObject = admissionv1.Create, runtime.RawExtension{}
	req.RequestKind = &metav1.GroupVersionKind{Group: "podvirt.io", Version: "v1beta1", Kind: "VirtualMachineInstance"}
	req.RequestResource = &metav1.GroupVersionResource{Group: "podvirt.io", Version: "v1beta1", Resource: "virtualmachineinstances"}
	req.DryRun = &dryRun
	if in, err = NewInput(req, nil, nil); err != nil {
		t.Fatal(err)
	}
	if res := check(t, in, "oldObject == null && request.requestKind.version == 'v1beta1' && request.requestResource.version == 'v1beta1' && request.dryRun"); res.Outcome != Passed {
		t.Errorf("create: %+v", res)
	}

	for field, r := range map[string]*admissionv1.AdmissionRequest{
		"object":    {Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: []byte(`{"a":`)}},
		"oldObject": {Operation: admissionv1.Update, Object: runtime.RawExtension{Raw: []byte(testVMI)}, OldObject: runtime.RawExtension{Raw: []byte(`{]`)}},
	} {
		if _, err := NewInput(r, nil, nil); err == nil || !strings.HasPrefix(err.Error(), "decoding the request's "+field+": ") {
			t.Errorf("%s: error %v", field, err)
		}
	}
}

// An offline request for an object being removed names the old object.
func TestInputFromOldObjectOnly(t *testing.T) {
	in := NewInputFromObjects(admissionv1.Update, nil, decode(t, testVMI), nil, nil, nil)
	if res := check(t, in, "object == null && request.name == 'vm' && request.namespace == 'prod' && !has(request.userInfo.username)"); res.Outcome != Passed {
		t.Errorf("%+v", res)
	}
}

// ParamObject fills apiVersion and kind of typed objects read from the API
// without them, and keeps those it has.
func TestParamObject(t *testing.T) {
	kind := admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
	bare := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "prod"}, Data: map[string]string{"max": "4"}}
	obj, err := ParamObject(bare, kind)
	if err != nil {
		t.Fatal(err)
	}
	if obj.APIVersion() != "v1" || obj.Kind() != "ConfigMap" || obj.Name() != "limits" || obj.Namespace() != "prod" {
		t.Errorf("bare: %s %s %s/%s", obj.APIVersion(), obj.Kind(), obj.Namespace(), obj.Name())
	}
	typed := bare.DeepCopy()
	typed.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Other"}
	if obj, err = ParamObject(typed, kind); err != nil || obj.Kind() != "Other" {
		t.Errorf("typed: %v %s", err, obj.Kind())
	}
}

// `variables` seen as a map: membership and lookups of names that are not
// variables, in policies with and without variables.
func TestVariablesAsAMap(t *testing.T) {
	in := NewInputFromObjects(admissionv1.Create, decode(t, testVMI), nil, nil, nil, nil)
	for _, tc := range []struct{ policy string }{
		{`spec: {variables: [{name: a, expression: "1"}, {name: b, expression: "2"}], validations: [{expression: "'a' in dyn(variables) && 'b' in dyn(variables) && !('c' in dyn(variables)) && !(1 in dyn(variables)) && size(dyn(variables)) == 2 && dyn(variables).all(k, k in ['a', 'b']) && variables.a == 1 && dyn(variables)['b'] == 2"}]}`},
		{`spec: {variables: [{name: a, expression: "1"}], validations: [{expression: "dyn(variables)['c'] == 1"}]}`},
		{`spec: {validations: [{expression: "size(dyn(variables)) == 0 && !('a' in dyn(variables))"}]}`},
	} {
		cp, errs := compiler(t).Compile(policyFromYAML(t, tc.policy))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		res := cp.Evaluate(context.Background(), in)
		want := Passed
		if strings.Contains(tc.policy, "['c']") {
			want = Errored
		}
		if res.Outcome != want {
			t.Errorf("%s: %+v", tc.policy, res)
		}
	}
}
