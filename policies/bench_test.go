package policies

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/podvirt/podvirt/crds/v1alpha1"
)

// benchPolicies returns 16 policies that all match the realistic VMI: the
// library's twelve and four more written the way users write them.
func benchPolicies(tb testing.TB, c *Compiler) *PolicySet {
	tb.Helper()
	files, err := filepath.Glob("library/*/policy.yaml")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no library policies: %v", err)
	}
	var compiled []*CompiledPolicy
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var p v1alpha1.VMIPolicy
		if err := yaml.UnmarshalStrict(raw, &p); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		if p.Name == "team-label-immutable" {
			// UPDATE only: replace it with a CREATE policy below.
			continue
		}
		cp, errs := c.Compile(&p)
		if len(errs) > 0 {
			tb.Fatalf("%s: %v", f, errs)
		}
		compiled = append(compiled, cp)
	}
	extra := []string{
		`{"metadata":{"name":"require-owner-annotation"},"spec":{"validations":[{"expression":"has(object.metadata.annotations) && 'podvirt.io/owner' in object.metadata.annotations","message":"the podvirt.io/owner annotation is required"}]}}`,
		`{"metadata":{"name":"disk-bus-virtio"},"spec":{"validations":[{"expression":"object.spec.domain.devices.?disks.orValue([]).all(d, !has(d.disk) || !has(d.disk.bus) || d.disk.bus == 'virtio')","message":"disks must use the virtio bus"}]}}`,
		`{"metadata":{"name":"max-volumes"},"spec":{"params":{"max":8},"validations":[{"expression":"size(object.spec.?volumes.orValue([])) <= params.max","message":"too many volumes"}]}}`,
		`{"metadata":{"name":"deny-host-passthrough"},"spec":{"validations":[{"expression":"object.spec.domain.?cpu.?model.orValue('') != 'host-passthrough'","message":"host-passthrough CPUs cannot be migrated"}]}}`,
		`{"metadata":{"name":"name-is-dns-label"},"spec":{"matchConditions":[{"name":"has-name","expression":"has(object.metadata.name)"}],"validations":[{"expression":"object.metadata.name.size() <= 63 && object.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')","message":"the name must be a DNS label"}]}}`,
	}
	for _, e := range extra {
		var p v1alpha1.VMIPolicy
		if err := yaml.Unmarshal([]byte(e), &p); err != nil {
			tb.Fatal(err)
		}
		cp, errs := c.Compile(&p)
		if len(errs) > 0 {
			tb.Fatalf("%s: %v", p.Name, errs)
		}
		compiled = append(compiled, cp)
	}
	if len(compiled) != 16 {
		tb.Fatalf("want 16 policies, have %d", len(compiled))
	}
	return NewPolicySet(compiled)
}

// benchRequest is a realistic VMI CREATE admission request.
func benchRequest(tb testing.TB) (*admissionv1.AdmissionRequest, *corev1.Namespace, ParamSource) {
	tb.Helper()
	raw, err := os.ReadFile("testdata/vmi-realistic.json")
	if err != nil {
		tb.Fatal(err)
	}
	req := &admissionv1.AdmissionRequest{
		UID:       "b2f4",
		Kind:      metav1.GroupVersionKind{Group: "podvirt.io", Version: "v1alpha1", Kind: "VirtualMachineInstance"},
		Resource:  metav1.GroupVersionResource{Group: "podvirt.io", Version: "v1alpha1", Resource: "virtualmachineinstances"},
		Name:      "web-1",
		Namespace: "prod",
		Operation: admissionv1.Create,
		UserInfo:  authenticationv1.UserInfo{Username: "alice", Groups: []string{"dev", "system:authenticated"}},
		Object:    runtime.RawExtension{Raw: raw},
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{
		"kubernetes.io/metadata.name": "prod", "podvirt.io/security": "strict"}}}
	cm, err := DecodeObject([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"vmi-limits","namespace":"podvirt-system"},"data":{"maxGuestMemory":"16Gi"}}`))
	if err != nil {
		tb.Fatal(err)
	}
	return req, ns, NewStaticParams(cm)
}

// admit is what the validating webhook does per request.
func admit(ctx context.Context, set *PolicySet, req *admissionv1.AdmissionRequest, ns *corev1.Namespace, params ParamSource, buf []PolicyResult) ([]PolicyResult, Verdict, error) {
	in, err := NewInput(req, ns, params)
	if err != nil {
		return nil, Verdict{}, err
	}
	results := set.Evaluate(ctx, in, buf[:0])
	return results, set.Decide(results), nil
}

func BenchmarkValidate16Policies(b *testing.B) {
	c, err := NewCompiler(CompilerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	set := benchPolicies(b, c)
	req, ns, params := benchRequest(b)
	ctx := context.Background()
	buf := make([]PolicyResult, 0, 16)
	results, verdict, err := admit(ctx, set, req, ns, params, buf)
	if err != nil {
		b.Fatal(err)
	}
	if len(results) != 16 || !verdict.Allowed {
		b.Fatalf("want 16 matching policies, allowed; got %d, %+v, %+v", len(results), verdict, results)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := admit(ctx, set, req, ns, params, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()

	// Approximate the latency distribution: time individual admissions.
	const samples = 5000
	durations := make([]time.Duration, samples)
	for i := range durations {
		start := time.Now()
		_, _, _ = admit(ctx, set, req, ns, params, buf)
		durations[i] = time.Since(start)
	}
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	p := func(q float64) time.Duration { return durations[int(q*float64(samples-1))] }
	b.ReportMetric(float64(p(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(p(0.99).Microseconds()), "p99-µs")
	if testing.Verbose() {
		fmt.Printf("admission latency over %d samples: p50 %v p90 %v p99 %v max %v\n", samples, p(0.5), p(0.9), p(0.99), durations[samples-1])
	}
}
