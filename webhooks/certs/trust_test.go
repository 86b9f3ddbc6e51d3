package certs

import (
	"crypto/x509"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func trustFixture(t *testing.T, ca []byte, bundles map[string][][]byte, validating ...string) *CABundleInjector {
	t.Helper()
	s := runtime.NewScheme()
	if err := admissionregistrationv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	var objs []client.Object
	for name, bs := range bundles {
		if name == "mutating" {
			cfg := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}}
			for i, b := range bs {
				cfg.Webhooks = append(cfg.Webhooks, admissionregistrationv1.MutatingWebhook{Name: string(rune('a'+i)) + ".podvirt.io", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: b}})
			}
			objs = append(objs, cfg)
			continue
		}
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}}
		for i, b := range bs {
			cfg.Webhooks = append(cfg.Webhooks, admissionregistrationv1.ValidatingWebhook{Name: string(rune('a'+i)) + ".podvirt.io", ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: b}})
		}
		objs = append(objs, cfg)
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
	return &CABundleInjector{Client: c, CA: ca, MutatingWebhooks: []string{"mutating"}, ValidatingWebhooks: validating}
}

// TestTrustChecker: ready only when every webhook entry of every named
// configuration has a caBundle holding the CA that signed the serving
// certificate; a bundle holding other CAs as well is fine.
func TestTrustChecker(t *testing.T) {
	otherCA, _, err := newCA()
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/readyz", nil)
	cases := []struct {
		name    string
		bundles func(ca []byte) map[string][][]byte
		missing bool // a named configuration does not exist
		wantErr string
	}{
		{name: "all trust", bundles: func(ca []byte) map[string][][]byte {
			return map[string][][]byte{"mutating": {ca}, "v1": {ca, ca}, "v2": {ca}}
		}},
		{name: "a bundle with another CA besides", bundles: func(ca []byte) map[string][][]byte {
			return map[string][][]byte{"mutating": {append(append([]byte{}, otherCA...), ca...)}, "v1": {ca, ca}, "v2": {ca}}
		}},
		{name: "one webhook not injected yet", wantErr: "validating v1, webhook 1", bundles: func(ca []byte) map[string][][]byte {
			return map[string][][]byte{"mutating": {ca}, "v1": {ca, nil}, "v2": {ca}}
		}},
		{name: "another CA only", wantErr: "mutating mutating, webhook 0: the caBundle does not trust", bundles: func(ca []byte) map[string][][]byte {
			return map[string][][]byte{"mutating": {otherCA}, "v1": {ca, ca}, "v2": {ca}}
		}},
		{name: "a configuration missing", wantErr: "validating v2", bundles: func(ca []byte) map[string][][]byte {
			return map[string][][]byte{"mutating": {ca}, "v1": {ca, ca}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRotator(t, time.Hour)
			inj := trustFixture(t, r.CA(), tc.bundles(r.CA()), "v1", "v2")
			err := inj.TrustChecker(r.Certificate)(req)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("not ready: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

// TestTrustCheckerRefusesAnExpiredCertificate: a trusted CA is not enough
// once the certificate served has expired (rotation kept failing).
func TestTrustCheckerRefusesAnExpiredCertificate(t *testing.T) {
	r := newTestRotator(t, time.Hour)
	inj := trustFixture(t, r.CA(), map[string][][]byte{"mutating": {r.CA()}})
	req := httptest.NewRequest("GET", "/readyz", nil)
	if err := inj.TrustChecker(r.Certificate)(req); err != nil {
		t.Fatalf("not ready: %v", err)
	}
	expired := *r.Certificate()
	expired.NotAfter = time.Now().Add(-time.Second)
	if err := inj.TrustChecker(func() *x509.Certificate { return &expired })(req); err == nil {
		t.Error("ready with an expired serving certificate")
	}
	// Checker (no serving certificate) keeps its exact-match meaning.
	if err := inj.Checker(req); err != nil {
		t.Errorf("Checker: %v", err)
	}
	inj.CA = []byte("another")
	if err := inj.Checker(req); err == nil {
		t.Error("Checker ready with a caBundle that is not the CA")
	}
}
