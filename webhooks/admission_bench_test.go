package webhooks

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/podvirt/podvirt/audit"
	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
)

// rules16Cache is a policy cache holding the admission benchmark's 16 rules
// (test/bench/testdata/rules-16.tsv), one VMIPolicy each.
func rules16Cache(b *testing.B) *policies.Cache {
	b.Helper()
	compiler, err := policies.NewCompiler(policies.CompilerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	cache := policies.NewCache(compiler)
	f, err := os.Open("../test/bench/testdata/rules-16.tsv")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 3 {
			continue
		}
		p := &v1alpha1.VMIPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "bench-" + fields[0], UID: types.UID("uid-" + fields[0]), Generation: 1},
			Spec:       v1alpha1.VMIPolicySpec{Validations: []admissionregistrationv1.Validation{{Expression: fields[1], Message: fields[2]}}},
		}
		if _, errs := cache.Upsert(p); len(errs) > 0 {
			b.Fatalf("%s: %v", p.Name, errs)
		}
		n++
	}
	if n != 16 {
		b.Fatalf("%d rules", n)
	}
	return cache
}

// BenchmarkAdmission is one VMI create as podvirt-controller serves it
// (issue #16): the /mutate-vmi review of the benchmark's VMI
// (examples/vmi-tiny.yaml with the labels app and owner), then the
// /validate-vmi review of the defaulted VMI with the 16 benchmark rules,
// each through the audit wrapper into an audit log (fsync left out: the
// same in both), HTTP and TLS left out. "before" is the stack this branch
// replaced (controller-runtime's admission.Webhook and defaulter), "after"
// ReviewHandler and VMIDefaulter. cpu-ns/op is the process's CPU time per
// create.
func BenchmarkAdmission(b *testing.B) {
	y, err := os.ReadFile("../examples/vmi-tiny.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(y, &obj); err != nil {
		b.Fatal(err)
	}
	md := obj["metadata"].(map[string]any)
	md["name"], md["namespace"] = "bench-1a2b3c-000123", "podvirt-bench"
	md["labels"] = map[string]any{"app": "bench", "owner": "bench"}
	raw, _ := json.Marshal(obj)
	vmi, err := decodeVMIRaw(raw)
	if err != nil {
		b.Fatal(err)
	}
	defaulted := vmi.DeepCopy()
	crDefaulter{}.Default(context.Background(), defaulted) //nolint:errcheck // never fails
	defaultedRaw, _ := json.Marshal(defaulted)
	review := func(object []byte) string {
		body := reviewBody(b, "admission.k8s.io/v1")
		y, _ := os.ReadFile("../examples/vmi-tiny.yaml")
		tiny, _ := yaml.YAMLToJSON(y)
		return strings.Replace(body, string(tiny), string(object), 1)
	}
	mutateBody, validateBody := review(raw), review(defaultedRaw)

	log, err := audit.Open(context.Background(), audit.Options{Dir: b.TempDir(), Replica: "bench-0", SyncFile: func(*os.File) error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "podvirt-bench", Labels: map[string]string{"kubernetes.io/metadata.name": "podvirt-bench"}}}
	validator := &VMIValidator{Policies: rules16Cache(b), Namespaces: namespaceReader{ns}}
	audited := func(name string, h admission.Handler) *Audited { return &Audited{Webhook: name, Inner: h, Log: log} }
	s := scheme(b)
	for _, bc := range []struct {
		name             string
		mutate, validate http.Handler
	}{
		{"before", &admission.Webhook{Handler: audited(audit.WebhookMutateVMI, controllerRuntimeDefaulter(s))}, &admission.Webhook{Handler: audited(audit.WebhookValidateVMI, validator)}},
		{"after", &ReviewHandler{Handler: audited(audit.WebhookMutateVMI, NewVMIDefaulter())}, &ReviewHandler{Handler: audited(audit.WebhookValidateVMI, validator)}},
		// deploy/base now: the kube-apiserver sets the defaults
		// (MutatingAdmissionPolicy), so a create is one call.
		{"validate-only", nil, &ReviewHandler{Handler: audited(audit.WebhookValidateVMI, validator)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			post := func(h http.Handler, body string) admissionResult {
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				var out struct {
					Response struct {
						Allowed bool   `json:"allowed"`
						Patch   []byte `json:"patch"`
					} `json:"response"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
					b.Fatal(err)
				}
				return admissionResult{out.Response.Allowed, len(out.Response.Patch) > 0}
			}
			if bc.mutate != nil {
				if m := post(bc.mutate, mutateBody); !m.allowed || !m.patched {
					b.Fatalf("mutate %+v", m)
				}
			}
			if v := post(bc.validate, validateBody); !v.allowed {
				b.Fatalf("validate %+v", v)
			}
			b.ReportAllocs()
			c0 := processCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if bc.mutate != nil {
					post(bc.mutate, mutateBody)
				}
				post(bc.validate, validateBody)
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
}

type admissionResult struct{ allowed, patched bool }

// processCPU is the process's user and system CPU time.
func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
