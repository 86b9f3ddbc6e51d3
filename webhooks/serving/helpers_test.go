package serving

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/podvirt/podvirt/audit"
	"github.com/podvirt/podvirt/webhooks"
	"github.com/podvirt/podvirt/webhooks/certs"
)

const testPath = "/validate-test"

// fixture is a Server on 127.0.0.1 with a certs.Rotator's certificate,
// serving an audited handler that blocks requests named "block-*" until
// released, and answers the others at once.
type fixture struct {
	srv     *Server
	audit   *audit.Writer
	dir     string
	client  *http.Client
	entered chan string   // names of blocking requests that reached the handler
	release chan struct{} // closed to let them answer
	// sawCancel counts blocking requests whose context ended before release.
	sawCancel atomic.Int32
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	rot, err := certs.NewRotator(context.Background(), fake.NewClientBuilder().WithScheme(s).Build(), certs.Options{
		Namespace: "podvirt-system", SecretName: "ca", Hosts: []string{"127.0.0.1"}, Dir: t.TempDir(), Validity: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: t.TempDir(), entered: make(chan string, 16), release: make(chan struct{})}
	f.audit, err = audit.Open(context.Background(), audit.Options{Dir: f.dir, Replica: "podvirt-controller-0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.audit.Close() })

	opts.Host = "127.0.0.1"
	opts.TLSOpts = append(opts.TLSOpts, func(c *tls.Config) { c.GetCertificate = rot.GetCertificate })
	f.srv = NewServer(opts)
	inner := admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		if len(req.Name) < 6 || req.Name[:6] != "block-" {
			return admission.Allowed("fast")
		}
		f.entered <- req.Name
		select {
		case <-f.release:
		case <-ctx.Done():
			f.sawCancel.Add(1)
			<-f.release
		}
		return admission.Allowed("released")
	})
	f.srv.Register(testPath, &webhook.Admission{Handler: &webhooks.Audited{Webhook: audit.WebhookPodGuard, Inner: inner, Log: f.audit}})

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rot.CA())
	f.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}, ForceAttemptHTTP2: true,
	}}
	return f
}

// start runs the server under ctx and waits until it listens; the
// returned channel yields Start's error.
func (f *fixture) start(t *testing.T, ctx context.Context) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f.srv.Start(ctx) }()
	f.waitListening(t)
	return done
}

func (f *fixture) waitListening(t *testing.T) {
	t.Helper()
	select {
	case <-f.srv.Listening():
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not listen")
	}
	if f.srv.Addr() == nil {
		t.Fatal("the server failed to listen")
	}
}

type result struct {
	resp *admissionv1.AdmissionResponse
	err  error
}

// admit sends an AdmissionReview for a Pod named name (uid uid) and
// returns its response.
func (f *fixture) admit(name string) result {
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID("uid-" + name), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Operation: admissionv1.Create,
			Namespace: "default", Name: name, UserInfo: authenticationv1.UserInfo{Username: "alice"},
			Object: runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `"}}`)},
		},
	}
	body, _ := json.Marshal(review)
	resp, err := f.client.Post("https://"+f.srv.Addr().String()+testPath, "application/json", bytes.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if wantMajor := map[bool]int{false: 1, true: 2}[f.srv.opts.HTTP2]; resp.StatusCode != http.StatusOK || resp.ProtoMajor != wantMajor {
		return result{err: fmt.Errorf("%s %s: %s", resp.Proto, resp.Status, data)}
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &out); err != nil || out.Response == nil {
		return result{err: fmt.Errorf("decoding %s: %v", data, err)}
	}
	return result{resp: out.Response}
}

func (f *fixture) admitAsync(name string) <-chan result {
	ch := make(chan result, 1)
	go func() { ch <- f.admit(name) }()
	return ch
}

func (f *fixture) waitEntered(t *testing.T, name string) {
	t.Helper()
	select {
	case got := <-f.entered:
		if got != name {
			t.Fatalf("%s reached the handler, want %s", got, name)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not reach the handler", name)
	}
}

// mustAllow checks that r is an allowed answer to the request named name
// that carries the audit annotations of its record.
func mustAllow(t *testing.T, r result, name string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("%s: %v", name, r.err)
	}
	if !r.resp.Allowed || string(r.resp.UID) != "uid-"+name {
		t.Fatalf("%s: answered %+v", name, r.resp)
	}
	if len(r.resp.AuditAnnotations) == 0 {
		t.Fatalf("%s: no audit annotations (no audit record)", name)
	}
}

// records closes the audit log and returns its records by UID.
func (f *fixture) records(t *testing.T) map[string]audit.Record {
	t.Helper()
	if err := f.audit.Close(); err != nil {
		t.Fatal(err)
	}
	out := map[string]audit.Record{}
	for rec, err := range audit.Read(context.Background(), f.dir, audit.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		out[rec.UID] = rec
	}
	return out
}

// eventually polls cond every 10ms for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
