package nodeauthz

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func serve(t *testing.T, h http.Handler, method, body string) (*httptest.ResponseRecorder, *authorizationv1.SubjectAccessReview) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, Path, strings.NewReader(body)))
	if rec.Code != http.StatusOK {
		return rec, nil
	}
	out := &authorizationv1.SubjectAccessReview{}
	if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
		t.Fatalf("answer %q: %v", rec.Body, err)
	}
	return rec, out
}

func review(spec *authorizationv1.SubjectAccessReviewSpec) string {
	b, _ := json.Marshal(&authorizationv1.SubjectAccessReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SubjectAccessReview"},
		Spec:     *spec,
	})
	return string(b)
}

func TestHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Metrics: m}
	for _, tc := range []struct {
		name           string
		method, body   string
		code           int
		denied         bool
		reason         string
		deny, no, invl float64 // the counter after the request
	}{
		{name: "scoped list", method: http.MethodPost, body: review(pods(certA, "list", reqs(in("spec.nodeName", "node-a")))), code: 200, no: 1},
		{name: "unscoped list", method: http.MethodPost, body: review(pods(certA, "list", nil)), code: 200, denied: true, reason: "spec.nodeName=node-a", deny: 1, no: 1},
		{name: "get", method: http.MethodPost, body: review(pods(saA, "get", nil)), code: 200, denied: true, reason: "may not get pods", deny: 2, no: 1},
		{name: "someone else", method: http.MethodPost, body: review(pods(user("alice"), "list", nil)), code: 200, deny: 2, no: 2},
		{name: "not a review", method: http.MethodPost, body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, code: 400, deny: 2, no: 2, invl: 1},
		{name: "v1beta1", method: http.MethodPost, body: `{"apiVersion":"authorization.k8s.io/v1beta1","kind":"SubjectAccessReview"}`, code: 400, deny: 2, no: 2, invl: 2},
		{name: "no JSON", method: http.MethodPost, body: `{`, code: 400, deny: 2, no: 2, invl: 3},
		{name: "too large", method: http.MethodPost, body: `{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"` + strings.Repeat("x", maxBody) + `"}}`, code: 400, deny: 2, no: 2, invl: 4},
		{name: "GET", method: http.MethodGet, code: 405, deny: 2, no: 2, invl: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, out := serve(t, h, tc.method, tc.body)
			if rec.Code != tc.code {
				t.Fatalf("code %d (%s), want %d", rec.Code, rec.Body, tc.code)
			}
			if out != nil {
				if out.APIVersion != "authorization.k8s.io/v1" || out.Kind != "SubjectAccessReview" {
					t.Errorf("answer is a %s %s", out.APIVersion, out.Kind)
				}
				if out.Status.Allowed || out.Status.Denied != tc.denied || !strings.Contains(out.Status.Reason, tc.reason) {
					t.Errorf("status %+v", out.Status)
				}
				if out.Spec.User != "" || out.Spec.ResourceAttributes != nil {
					t.Errorf("the answer echoes the spec: %+v", out.Spec)
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
			}
			for d, want := range map[string]float64{DecisionDeny: tc.deny, DecisionNoOpinion: tc.no, DecisionInvalid: tc.invl} {
				if got := testutil.ToFloat64(m.Decisions.WithLabelValues(d)); got != want {
					t.Errorf("podvirt_nodeagent_authz_decisions_total{decision=%q} = %v, want %v", d, got, want)
				}
			}
		})
	}
	if n, err := testutil.GatherAndCount(reg, "podvirt_nodeagent_authz_decisions_total"); err != nil || n != 3 {
		t.Errorf("%d series registered (%v), want 3", n, err)
	}
}

// A Handler without metrics or a logger still answers.
func TestHandlerZero(t *testing.T) {
	if _, out := serve(t, &Handler{}, http.MethodPost, review(pods(certA, "watch", nil))); out == nil || !out.Status.Denied {
		t.Fatalf("answer %+v", out)
	}
}
