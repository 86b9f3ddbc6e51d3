package policies

import (
	"bufio"
	"context"
	"os"
	"strings"
	"syscall"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/podvirt/podvirt/crds/v1alpha1"
)

// rules16 are the admission benchmark's rules (test/bench/testdata/rules-16.tsv,
// "name<TAB>expression<TAB>message"), each a VMIPolicy of one validation.
func rules16(tb testing.TB) []*v1alpha1.VMIPolicy {
	tb.Helper()
	f, err := os.Open("../test/bench/testdata/rules-16.tsv")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []*v1alpha1.VMIPolicy
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 3 {
			tb.Fatalf("rules-16.tsv: %q", line)
		}
		out = append(out, &v1alpha1.VMIPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "bench-" + fields[0]},
			Spec: v1alpha1.VMIPolicySpec{
				Validations: []admissionregistrationv1.Validation{{Expression: fields[1], Message: fields[2]}},
			},
		})
	}
	if len(out) != 16 {
		tb.Fatalf("rules-16.tsv has %d rules", len(out))
	}
	return out
}

// benchVMIRaw is the admission benchmark's VMI as the validating webhook
// receives it: examples/vmi-tiny.yaml with the labels app and owner, after
// the defaulter.
func benchVMIRaw(tb testing.TB) []byte {
	tb.Helper()
	y, err := os.ReadFile("../examples/vmi-tiny.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(y, &obj); err != nil {
		tb.Fatal(err)
	}
	md := obj["metadata"].(map[string]any)
	md["name"], md["namespace"] = "bench-1a2b3c-000123", "podvirt-bench"
	md["labels"] = map[string]any{"app": "bench", "owner": "bench"}
	spec := obj["spec"].(map[string]any)
	dom := spec["domain"].(map[string]any)
	dom["cpu"] = map[string]any{"cores": 1, "sockets": 1, "threads": 1}
	dom["machine"] = map[string]any{"type": "q35"}
	dom["resources"] = map[string]any{"requests": map[string]any{"memory": "128Mi"}}
	dom["devices"].(map[string]any)["autoattachSerialConsole"] = true
	dom["firmware"].(map[string]any)["kernelBoot"].(map[string]any)["container"].(map[string]any)["imagePullPolicy"] = "Always"
	spec["evictionStrategy"] = "None"
	raw, err := yaml.YAMLToJSON(mustYAML(tb, obj))
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func mustYAML(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// cpuNanos is the process's user and system CPU time: a fairer measure of
// work than wall time on a shared machine.
func cpuNanos() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkValidatePathCustomVsStandard is issue #16's question about
// policies/: the validating webhook's per-request work on the admission
// benchmark's VMI and its 16 rules, end to end in-process, two ways.
//
//   - custom: what VMIValidator does: one DecodeObject, TypedDecoder into
//     the Go type (for the built-in checks), the 16 compiled VMIPolicies
//     evaluated by this package (its values, evaluation and cost
//     tracking), and Decide.
//   - standard: the same decisions from the standard pieces: the object
//     decoded twice with sigs.k8s.io/json (the Go type, and unstructured
//     for CEL, as the kube-apiserver decodes a custom resource), and the
//     16 rules as ValidatingAdmissionPolicies (ExportVAP) evaluated by
//     k8s.io/apiserver's validator with its runtime cost budget, as
//     TestDifferentialAgainstVAP drives it.
//
// Both must allow the VMI after running all 16 rules. cpu-ns/op is the
// process's CPU time per admission.
func BenchmarkValidatePathCustomVsStandard(b *testing.B) {
	raw := benchVMIRaw(b)
	policies := rules16(b)
	ctx := context.Background()
	req := &admissionv1.AdmissionRequest{
		UID:       "4ab8ebd8",
		Kind:      metav1.GroupVersionKind{Group: "podvirt.io", Version: "v1alpha1", Kind: "VirtualMachineInstance"},
		Resource:  metav1.GroupVersionResource{Group: "podvirt.io", Version: "v1alpha1", Resource: "virtualmachineinstances"},
		Name:      "bench-1a2b3c-000123",
		Namespace: "podvirt-bench",
		Operation: admissionv1.Create,
		UserInfo:  authenticationv1.UserInfo{Username: "bench-dev-admin", Groups: []string{"system:masters", "system:authenticated"}},
		Object:    runtime.RawExtension{Raw: raw},
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "podvirt-bench", Labels: map[string]string{"kubernetes.io/metadata.name": "podvirt-bench"}}}

	// custom
	c := compiler(b)
	var compiled []*CompiledPolicy
	for _, p := range policies {
		cp, errs := c.Compile(p)
		if len(errs) > 0 {
			b.Fatalf("%s: %v", p.Name, errs)
		}
		compiled = append(compiled, cp)
	}
	set := NewPolicySet(compiled)
	var typed TypedDecoder
	buf := make([]PolicyResult, 0, len(compiled))
	custom := func() bool {
		object, err := DecodeObject(raw)
		if err != nil {
			b.Fatal(err)
		}
		vmi := &v1alpha1.VirtualMachineInstance{}
		if err := typed.Decode(object, vmi); err != nil {
			b.Fatal(err)
		}
		results := set.Evaluate(ctx, NewDecodedInput(req, object, nil, ns, nil), buf[:0])
		for _, r := range results {
			if r.Outcome != Passed {
				b.Fatalf("custom: %s %v %v", r.Policy, r.Outcome, r.Violations)
			}
		}
		return len(results) == 16 && set.Decide(results).Allowed
	}

	// standard
	var validators []validating.Validator
	for _, p := range policies {
		vap, _, err := ExportVAP(p)
		if err != nil {
			b.Fatal(err)
		}
		validators = append(validators, compileVAP(b, vap))
	}
	gvk := schema.GroupVersionKind{Group: "podvirt.io", Version: "v1alpha1", Kind: "VirtualMachineInstance"}
	gvr := schema.GroupVersionResource{Group: "podvirt.io", Version: "v1alpha1", Resource: "virtualmachineinstances"}
	u := &user.DefaultInfo{Name: req.UserInfo.Username, Groups: req.UserInfo.Groups}
	standard := func() bool {
		vmi := &v1alpha1.VirtualMachineInstance{}
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, vmi); err != nil {
			b.Fatal(err)
		}
		var m map[string]any
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &m); err != nil {
			b.Fatal(err)
		}
		obj := &unstructured.Unstructured{Object: m}
		attrs := admission.NewAttributesRecord(obj, nil, gvk, req.Namespace, req.Name, gvr, "", admission.Create, nil, false, u)
		va := &admission.VersionedAttributes{Attributes: attrs, VersionedKind: gvk, VersionedObject: admission.NewLazyObject(obj)}
		allowed := true
		for _, v := range validators {
			res := v.Validate(ctx, gvr, va, nil, ns, celconfig.RuntimeCELCostBudget, nil)
			if len(res.Decisions) != 1 {
				b.Fatalf("standard: %d decisions", len(res.Decisions))
			}
			for _, d := range res.Decisions {
				if d.Evaluation != validating.EvalAdmit {
					b.Fatalf("standard: %v %s", d.Evaluation, d.Message)
				}
			}
		}
		return allowed
	}

	for _, bc := range []struct {
		name string
		run  func() bool
	}{{"custom", custom}, {"standard", standard}} {
		b.Run(bc.name, func(b *testing.B) {
			if !bc.run() {
				b.Fatal("not allowed")
			}
			b.ReportAllocs()
			c0 := cpuNanos()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bc.run()
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuNanos()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
}
