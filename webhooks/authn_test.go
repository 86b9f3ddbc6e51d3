package webhooks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testCA makes a CA and issues client certificates from it.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) client(t *testing.T, cn string) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Attack: any Pod that reaches the webhook port POSTs an AdmissionReview.
// Only a caller with a certificate of the API server's admission CA (and
// the admitted name) reaches a handler.
func TestCallerAuthAdmitsOnlyTheAPIServer(t *testing.T) {
	apiCA, otherCA := newTestCA(t), newTestCA(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, apiCA.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := NewCallerAuth(caFile, []string{"kube-apiserver-admission"}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	reached := 0
	srv := httptest.NewUnstartedServer(auth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++ })))
	srv.TLS = &tls.Config{}
	auth.TLS(srv.TLS)
	srv.StartTLS()
	defer srv.Close()
	post := func(certs ...tls.Certificate) int {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = certs
		resp, err := (&http.Client{Transport: tr}).Post(srv.URL+"/validate-vmi", "application/json", strings.NewReader(`{"kind":"AdmissionReview"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for name, c := range map[string]struct {
		certs []tls.Certificate
		want  int
	}{
		"no certificate":               {nil, http.StatusUnauthorized},
		"another CA's certificate":     {[]tls.Certificate{otherCA.client(t, "kube-apiserver-admission")}, 0},
		"the CA's, another name":       {[]tls.Certificate{apiCA.client(t, "system:serviceaccount:default:pod")}, http.StatusUnauthorized},
		"the API server's certificate": {[]tls.Certificate{apiCA.client(t, "kube-apiserver-admission")}, http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			before := reached
			if c.want == 0 {
				// A certificate the CA did not sign fails the handshake.
				tr := srv.Client().Transport.(*http.Transport).Clone()
				tr.TLSClientConfig.Certificates = c.certs
				if _, err := (&http.Client{Transport: tr}).Get(srv.URL); err == nil {
					t.Error("a certificate of another CA was accepted")
				}
			} else if got := post(c.certs...); got != c.want {
				t.Errorf("status %d, want %d", got, c.want)
			}
			if wantReach := c.want == http.StatusOK; (reached > before) != wantReach {
				t.Errorf("handler reached=%v, want %v", reached > before, wantReach)
			}
		})
	}
	if n := testutil.ToFloat64(auth.Refused.WithLabelValues("no verified client certificate")); n != 1 {
		t.Errorf("refusals without a certificate counted %v, want 1", n)
	}
}

func TestCallerAuthWithoutCAAdmitsAll(t *testing.T) {
	auth, err := NewCallerAuth("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	auth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })).ServeHTTP(rec, httptest.NewRequest("POST", "/x", nil))
	if rec.Code != 299 {
		t.Errorf("without a CA the handler was not reached: %d", rec.Code)
	}
}
