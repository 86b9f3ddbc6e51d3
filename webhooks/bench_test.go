package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
	"github.com/podvirt/podvirt/webhooks/vmirules"
)

// benchValidator is the validating handler as the controller runs it, with
// 16 VMIPolicies that all match the realistic VMI: the library's (less the
// UPDATE-only one) and five more.
func benchValidator(b *testing.B) (*VMIValidator, admission.Request) {
	b.Helper()
	compiler, err := policies.NewCompiler(policies.CompilerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	cache := policies.NewCache(compiler)
	files, _ := filepath.Glob("../policies/library/*/policy.yaml")
	var docs [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, raw)
	}
	for _, e := range []string{
		`{"metadata":{"name":"require-owner-annotation"},"spec":{"validations":[{"expression":"has(object.metadata.annotations) && 'podvirt.io/owner' in object.metadata.annotations","message":"owner annotation required"}]}}`,
		`{"metadata":{"name":"disk-bus-virtio"},"spec":{"validations":[{"expression":"object.spec.domain.devices.?disks.orValue([]).all(d, !has(d.disk) || !has(d.disk.bus) || d.disk.bus == 'virtio')","message":"virtio disks only"}]}}`,
		`{"metadata":{"name":"max-volumes"},"spec":{"params":{"max":8},"validations":[{"expression":"size(object.spec.?volumes.orValue([])) <= params.max","message":"too many volumes"}]}}`,
		`{"metadata":{"name":"deny-host-passthrough"},"spec":{"validations":[{"expression":"object.spec.domain.?cpu.?model.orValue('') != 'host-passthrough'","message":"no host-passthrough"}]}}`,
		`{"metadata":{"name":"name-is-dns-label"},"spec":{"validations":[{"expression":"object.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')","message":"DNS label"}]}}`,
	} {
		docs = append(docs, []byte(e))
	}
	n := 0
	for i, raw := range docs {
		p := &v1alpha1.VMIPolicy{}
		if err := yaml.Unmarshal(raw, p); err != nil {
			b.Fatal(err)
		}
		if p.Name == "team-label-immutable" {
			continue
		}
		p.UID, p.Generation = types.UID(fmt.Sprint("uid-", i)), 1
		if _, errs := cache.Upsert(p); len(errs) > 0 {
			b.Fatalf("%s: %v", p.Name, errs)
		}
		n++
	}
	if n != 16 {
		b.Fatalf("want 16 policies, have %d", n)
	}
	raw, err := json.Marshal(benchVMI(b))
	if err != nil {
		b.Fatal(err)
	}
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{"kubernetes.io/metadata.name": "prod", "podvirt.io/security": "strict"}}}
	cm, _ := policies.DecodeObject([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"vmi-limits","namespace":"podvirt-system"},"data":{"maxGuestMemory":"16Gi"}}`))
	v := &VMIValidator{
		Policies:   cache,
		Namespaces: namespaceReader{ns},
		Params:     policies.NewStaticParams(cm),
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "b2f4", Name: "web-1", Namespace: "prod", Operation: admissionv1.Create,
		Kind:     metav1.GroupVersionKind{Group: "podvirt.io", Version: "v1alpha1", Kind: "VirtualMachineInstance"},
		Resource: metav1.GroupVersionResource{Group: "podvirt.io", Version: "v1alpha1", Resource: "virtualmachineinstances"},
		UserInfo: authenticationv1.UserInfo{Username: "alice", Groups: []string{"dev"}},
		Object:   runtime.RawExtension{Raw: raw},
	}}
	return v, req
}

// benchVMI is the realistic VMI as the validating webhook sees it: after
// the defaulter, and booting from its first disk.
func benchVMI(b *testing.B) *v1alpha1.VirtualMachineInstance {
	b.Helper()
	raw, err := os.ReadFile("../policies/testdata/vmi-realistic.json")
	if err != nil {
		b.Fatal(err)
	}
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := json.Unmarshal(raw, vmi); err != nil {
		b.Fatal(err)
	}
	vmirules.Default(vmi)
	vmi.Spec.Domain.Devices.Disks[0].BootOrder = ptr.To(uint(1))
	if errs := vmirules.Validate(vmi); len(errs) > 0 {
		b.Fatalf("the benchmark VMI is invalid: %v", errs)
	}
	return vmi
}

// BenchmarkValidatingHandler16Policies measures one admission through the
// validating handler in-process: decode, semantic checks and 16 matching
// VMIPolicies (no audit log write: BenchmarkAppend in audit).
func BenchmarkValidatingHandler16Policies(b *testing.B) {
	v, req := benchValidator(b)
	rec := &Record{}
	ctx := context.WithValue(context.Background(), recordKey{}, rec)
	resp := v.Handle(ctx, req)
	if resp.Result != nil && resp.Result.Code >= 500 {
		b.Fatalf("handler error: %v", resp.Result)
	}
	// 16 VMIPolicies and the built-in validation must all have run.
	if len(rec.policies) != 17 {
		b.Fatalf("%d policy results, want 17: %+v", len(rec.policies), rec.policies)
	}
	ctx = context.Background()
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		v.Handle(ctx, req)
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds()), "p99-µs")
}

// namespaceReader serves one Namespace the way the manager's informer
// cache does (a deep copy per Get); the fake client would add a JSON round
// trip that production never pays.
type namespaceReader struct{ ns *corev1.Namespace }

func (r namespaceReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	r.ns.DeepCopyInto(obj.(*corev1.Namespace))
	return nil
}

func (r namespaceReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return fmt.Errorf("not implemented")
}

// BenchmarkMutatingHandler measures one admission through the defaulting
// handler in-process (no audit log write), for the realistic VMI as a user
// sends it (a patch) and for it defaulted already (no patch), beside
// controller-runtime's defaulter that VMIDefaulter replaced
// (vmi_defaulter_test.go), so that one run under one load compares them.
func BenchmarkMutatingHandler(b *testing.B) {
	raw, err := os.ReadFile("../policies/testdata/vmi-realistic.json")
	if err != nil {
		b.Fatal(err)
	}
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := json.Unmarshal(raw, vmi); err != nil {
		b.Fatal(err)
	}
	vmirules.Default(vmi)
	// As the kube-apiserver would send it: no status, no null
	// creationTimestamp (and members in another order than Go's).
	encoded, err := json.Marshal(vmi)
	if err != nil {
		b.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(encoded, &doc); err != nil {
		b.Fatal(err)
	}
	delete(doc, "status")
	delete(doc["metadata"].(map[string]any), "creationTimestamp")
	defaulted, err := json.Marshal(doc)
	if err != nil {
		b.Fatal(err)
	}
	s := scheme(b)
	for _, bc := range []struct {
		name  string
		h     admission.Handler
		body  []byte
		patch bool
	}{
		{"controller-runtime/patch", controllerRuntimeDefaulter(s), raw, true},
		{"VMIDefaulter/patch", NewVMIDefaulter(), raw, true},
		{"controller-runtime/defaulted", controllerRuntimeDefaulter(s), defaulted, true}, // add /status
		{"VMIDefaulter/defaulted", NewVMIDefaulter(), defaulted, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := request(b, admissionv1.Create, string(bc.body))
			if resp := bc.h.Handle(context.Background(), req); !resp.Allowed || (len(resp.Patches) > 0) != bc.patch {
				b.Fatalf("allowed=%v patches=%v, want a patch: %v", resp.Allowed, resp.Patches, bc.patch)
			}
			ctx := context.Background()
			b.ReportAllocs()
			c0 := processCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bc.h.Handle(ctx, req)
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
}
