package webhooks

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"
)

// reviewBody is an AdmissionReview as the kube-apiserver sends it for a
// dry-run create of examples/vmi-tiny.yaml.
func reviewBody(t testing.TB, apiVersion string) string {
	t.Helper()
	return reviewBodyOf(t, apiVersion, tinyJSON(t))
}

// defaultedReviewBody is the review /validate-vmi gets for the same
// create: the object carries the defaults the kube-apiserver applied.
func defaultedReviewBody(t testing.TB, apiVersion string) string {
	t.Helper()
	return reviewBodyOf(t, apiVersion, defaultedJSON(t, tinyJSON(t)))
}

func tinyJSON(t testing.TB) []byte {
	t.Helper()
	y, err := os.ReadFile("../examples/vmi-tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func reviewBodyOf(t testing.TB, apiVersion string, obj []byte) string {
	t.Helper()
	head := `{"kind":"AdmissionReview","apiVersion":"` + apiVersion + `",`
	if apiVersion == "" {
		head = `{`
	}
	return head + `"request":{"uid":"4ab8ebd8-9c4d-47aa-9662-3395ae8b984e",` +
		`"kind":{"group":"podvirt.io","version":"v1alpha1","kind":"VirtualMachineInstance"},` +
		`"resource":{"group":"podvirt.io","version":"v1alpha1","resource":"virtualmachineinstances"},` +
		`"requestKind":{"group":"podvirt.io","version":"v1alpha1","kind":"VirtualMachineInstance"},` +
		`"requestResource":{"group":"podvirt.io","version":"v1alpha1","resource":"virtualmachineinstances"},` +
		`"name":"bench-1a2b3c-000123","namespace":"podvirt-bench","operation":"CREATE",` +
		`"userInfo":{"username":"bench-dev-admin","groups":["system:masters","system:authenticated"],"extra":{"authentication.kubernetes.io/credential-id":["X509SHA256=0123456789abcdef"]}},` +
		`"object":` + string(obj) + `,"oldObject":null,"dryRun":true,` +
		`"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1","dryRun":["All"],"fieldManager":"loadgen"}}}`
}

func serve(t testing.TB, h http.Handler, contentType, body string) (int, admissionv1.AdmissionReview) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/mutate-vmi", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("the answer is not an AdmissionReview: %v: %q", err, w.Body.String())
	}
	return w.Code, out
}

type panicking struct{}

func (panicking) Handle(context.Context, admission.Request) admission.Response { panic("boom") }

// TestReviewHandlerAnswersAsControllerRuntime holds ReviewHandler to
// controller-runtime's admission.Webhook, which it replaced: the same
// answer (version, UID, allowed, status code, patch) for the reviews the
// kube-apiserver sends and for the bodies either refuses (whose messages
// may be worded differently).
func TestReviewHandlerAnswersAsControllerRuntime(t *testing.T) {
	for _, c := range []struct {
		name, contentType, body string
		handler                 admission.Handler
		wantCode                int32
	}{
		{"v1", "application/json", reviewBody(t, "admission.k8s.io/v1"), NewVMIDefaulter(), 200},
		{"v1beta1", "application/json", reviewBody(t, "admission.k8s.io/v1beta1"), NewVMIDefaulter(), 200},
		{"no version", "application/json", reviewBody(t, ""), NewVMIDefaulter(), 200},
		{"validator", "application/json", defaultedReviewBody(t, "admission.k8s.io/v1"), &VMIValidator{}, 200},
		{"empty", "application/json", "", NewVMIDefaulter(), 400},
		{"not JSON", "text/plain", reviewBody(t, "admission.k8s.io/v1"), NewVMIDefaulter(), 400},
		{"garbage", "application/json", `{"request":`, NewVMIDefaulter(), 400},
		{"too large", "application/json", `{"request":{"uid":"` + strings.Repeat("x", maxReviewBytes) + `"}}`, NewVMIDefaulter(), 413},
		{"panic", "application/json", reviewBody(t, "admission.k8s.io/v1"), panicking{}, 500},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, got := serve(t, &ReviewHandler{Handler: c.handler}, c.contentType, c.body)
			_, want := serve(t, &admission.Webhook{Handler: c.handler}, c.contentType, c.body)
			if code != http.StatusOK {
				t.Errorf("HTTP %d, want 200 (the status is in the review)", code)
			}
			if got.Response == nil || want.Response == nil {
				t.Fatalf("responses %+v, %+v", got.Response, want.Response)
			}
			g, w := got.Response, want.Response
			// controller-runtime answers a body it could not read in a
			// review without apiVersion and kind; ReviewHandler says v1.
			if want.APIVersion != "" && (got.APIVersion != want.APIVersion || got.Kind != want.Kind) || g.UID != w.UID || g.Allowed != w.Allowed ||
				g.Result.Code != w.Result.Code || (g.PatchType == nil) != (w.PatchType == nil) || string(g.Patch) != string(w.Patch) {
				t.Errorf("got %s %s %+v result %+v\nwant %s %s %+v result %+v", got.APIVersion, got.Kind, g, g.Result, want.APIVersion, want.Kind, w, w.Result)
			}
			if g.Result.Code != c.wantCode {
				t.Errorf("status code %d, want %d (%s)", g.Result.Code, c.wantCode, g.Result.Message)
			}
		})
	}
}

// BenchmarkReviewHandler measures serving one AdmissionReview (decode,
// the defaulter, encode) through ReviewHandler and through
// controller-runtime's admission.Webhook, side by side.
func BenchmarkReviewHandler(b *testing.B) {
	body := reviewBody(b, "admission.k8s.io/v1")
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"admission.Webhook", &admission.Webhook{Handler: NewVMIDefaulter()}},
		{"ReviewHandler", &ReviewHandler{Handler: NewVMIDefaulter()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r := httptest.NewRequest(http.MethodPost, "/mutate-vmi", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				bc.h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
