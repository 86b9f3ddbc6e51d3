package webhooks

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// CallerAuth admits AdmissionReviews (and the node agent authorization
// webhook's SubjectAccessReviews) only from the kube-apiserver: a
// caller must present a client certificate signed by the CA the API server's
// admission kubeconfig uses (--admission-control-config-file), and, when
// Names is set, one of those common names. Anyone else who can reach the
// webhook port (any Pod, without a NetworkPolicy) is refused before a
// handler runs, so the audit log holds only the API server's requests: a
// refusal is logged and counted, never recorded as a decision.
type CallerAuth struct {
	// CAs verify the callers' certificates; nil admits every caller.
	CAs *x509.CertPool
	// Names are the common names admitted; empty admits any the CAs
	// signed.
	Names []string
	// Refused counts refused callers by reason.
	Refused *prometheus.CounterVec
}

// NewCallerAuth reads the CA bundle at caFile; "" admits every caller.
func NewCallerAuth(caFile string, names []string, reg prometheus.Registerer) (*CallerAuth, error) {
	a := &CallerAuth{Names: names, Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podvirt_admission_unauthenticated_total",
		Help: "AdmissionReviews and SubjectAccessReviews refused because the caller was not the kube-apiserver, by reason.",
	}, []string{"reason"})}
	if reg != nil {
		if err := reg.Register(a.Refused); err != nil {
			return nil, err
		}
	}
	if caFile == "" {
		return a, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading the admission client CA: %w", err)
	}
	a.CAs = x509.NewCertPool()
	if !a.CAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return a, nil
}

// TLS asks callers for a certificate and verifies one if given; Wrap
// refuses requests without a verified one (so the refusal is an HTTP
// answer that can be logged and counted, not a failed handshake).
func (a *CallerAuth) TLS(c *tls.Config) {
	if a == nil || a.CAs == nil {
		return
	}
	c.ClientCAs = a.CAs
	c.ClientAuth = tls.VerifyClientCertIfGiven
}

// Wrap admits only authenticated callers to h.
func (a *CallerAuth) Wrap(h http.Handler) http.Handler {
	if a == nil || a.CAs == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reason := ""
		switch {
		case r.TLS == nil || len(r.TLS.VerifiedChains) == 0:
			reason = "no verified client certificate"
		case len(a.Names) > 0 && !slices.Contains(a.Names, r.TLS.VerifiedChains[0][0].Subject.CommonName):
			reason = "client certificate name not admitted"
		}
		if reason != "" {
			a.Refused.WithLabelValues(reason).Inc()
			log.FromContext(r.Context()).Info("refused a webhook call: the caller is not the kube-apiserver",
				"remote", r.RemoteAddr, "path", r.URL.Path, "reason", reason)
			http.Error(w, "only the kube-apiserver may call this webhook: "+reason, http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
