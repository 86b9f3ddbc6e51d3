package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Options says where the webhook serving certificate comes from and
// where it is written (CABundleInjector makes the API server trust its CA).
//
// The CA lives in a Secret so that every replica serves a certificate the
// same CA bundle trusts. This is written here rather than with
// open-policy-agent/cert-controller because the local environment calls the
// webhooks by IP address (url clientConfig), which needs IP SANs.
type Options struct {
	// Namespace and SecretName name the Secret holding the CA key pair.
	Namespace, SecretName string
	// Hosts are the serving certificate's DNS names and IP addresses.
	Hosts []string
	// Dir receives tls.crt and tls.key at every rotation, for tools that
	// read them; the webhook server serves Rotator.GetCertificate.
	Dir string
	// Validity is how long a serving certificate lives. Defaults to
	// DefaultValidity.
	Validity time.Duration
}

// DefaultValidity is the lifetime of a serving certificate when
// Options.Validity is zero.
const DefaultValidity = 365 * 24 * time.Hour

const (
	caCertKey = "ca.crt"
	caKeyKey  = "ca.key"
)

// Rotator keeps the serving certificate fresh: it issues one at start
// and a new one once a third of its validity is left, that is once two
// thirds of its lifetime have passed. The webhook server serves whatever
// GetCertificate returns, so a rotation takes effect at the next TLS
// handshake with no restart and no window in which a half-written key pair
// could be loaded (a certificate watcher reading tls.crt and tls.key as
// two files can see a new key with the old certificate). Connections
// already established are not affected.
//
// Every rotation also rewrites tls.crt and tls.key in Options.Dir, each
// file atomically (a rename), for tools that read them; the two renames
// are not one step, so such a reader may briefly see a new key next to
// the old certificate.
//
// Only the serving certificate rotates. The CA (ten years, in the Secret)
// does not: rotating it would need a CA bundle trusting old and new CAs
// while every replica moves to the new one, which is not implemented.
type Rotator struct {
	opts            Options
	caPEM, caKeyPEM []byte
	current         atomic.Pointer[tls.Certificate]
	// Interval is how often the certificate's age is checked. Defaults to
	// a tenth of the validity, at most an hour, so that a certificate is
	// replaced well before it expires even when it lives a minute.
	Interval time.Duration
}

// NewRotator loads (or creates) the CA and issues and writes a first
// serving certificate.
func NewRotator(ctx context.Context, c client.Client, opts Options) (*Rotator, error) {
	if opts.Validity == 0 {
		opts.Validity = DefaultValidity
	}
	if opts.Validity < 0 {
		return nil, fmt.Errorf("the serving certificate validity %s is negative", opts.Validity)
	}
	caPEM, caKeyPEM, err := ensureCA(ctx, c, opts.Namespace, opts.SecretName)
	if err != nil {
		return nil, err
	}
	r := &Rotator{opts: opts, caPEM: caPEM, caKeyPEM: caKeyPEM}
	if err := r.rotate(); err != nil {
		return nil, err
	}
	return r, nil
}

// CA is the CA certificate (PEM) for caBundle.
func (r *Rotator) CA() []byte { return r.caPEM }

// GetCertificate returns the current serving certificate; it is the
// tls.Config.GetCertificate of the webhook server.
func (r *Rotator) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.current.Load(), nil
}

// Certificate returns the current serving certificate, parsed: what the
// readiness check asks the CA bundles to trust.
func (r *Rotator) Certificate() *x509.Certificate { return r.current.Load().Leaf }

// NeedLeaderElection implements manager.LeaderElectionRunnable: every
// replica serves, so every replica rotates its own certificate.
func (r *Rotator) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable. A failed rotation is logged and
// retried at the next check: the current certificate is still served, and
// stays valid for a third of its lifetime.
func (r *Rotator) Start(ctx context.Context) error {
	t := time.NewTicker(r.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := r.RotateIfDue(time.Now()); err != nil {
				log.FromContext(ctx).Error(err, "rotating the webhook serving certificate; retrying",
					"notAfter", r.Certificate().NotAfter)
			}
		}
	}
}

func (r *Rotator) interval() time.Duration {
	if r.Interval > 0 {
		return r.Interval
	}
	return max(min(time.Hour, r.opts.Validity/10), 10*time.Millisecond)
}

// RotateIfDue issues a new serving certificate when at most a third of
// the validity is left at now, and reports whether it did.
func (r *Rotator) RotateIfDue(now time.Time) (bool, error) {
	if r.Certificate().NotAfter.Sub(now) > r.opts.Validity/3 {
		return false, nil
	}
	return true, r.rotate()
}

// rotate issues a certificate, writes it, and only then serves it.
func (r *Rotator) rotate() error {
	certPEM, keyPEM, err := issueServingCert(r.caPEM, r.caKeyPEM, r.opts.Hosts, r.opts.Validity)
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("loading the new serving certificate: %w", err)
	}
	if cert.Leaf == nil { // filled by X509KeyPair unless GODEBUG=x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("parsing the new serving certificate: %w", err)
		}
	}
	if err := writePair(r.opts.Dir, certPEM, keyPEM); err != nil {
		return err
	}
	r.current.Store(&cert)
	return nil
}

// WriteServingCert issues a serving certificate from the CA and writes it
// to opts.Dir, key first, each file atomically.
func WriteServingCert(caPEM, caKeyPEM []byte, opts Options) error {
	if opts.Validity == 0 {
		opts.Validity = DefaultValidity
	}
	certPEM, keyPEM, err := issueServingCert(caPEM, caKeyPEM, opts.Hosts, opts.Validity)
	if err != nil {
		return err
	}
	return writePair(opts.Dir, certPEM, keyPEM)
}

func writePair(dir string, certPEM, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the certificate directory: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, "tls.key"), keyPEM); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, "tls.crt"), certPEM)
}

func ensureCA(ctx context.Context, c client.Client, ns, name string) (certPEM, keyPEM []byte, err error) {
	secret := &corev1.Secret{}
	err = c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, secret)
	if err == nil {
		return secret.Data[caCertKey], secret.Data[caKeyKey], nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, nil, fmt.Errorf("reading the webhook CA secret %s/%s: %w", ns, name, err)
	}
	certPEM, keyPEM, err = newCA()
	if err != nil {
		return nil, nil, err
	}
	secret = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{caCertKey: certPEM, caKeyKey: keyPEM},
	}
	if err := c.Create(ctx, secret); err != nil {
		if apierrors.IsAlreadyExists(err) { // another replica won the race: use its CA
			return ensureCA(ctx, c, ns, name)
		}
		return nil, nil, fmt.Errorf("creating the webhook CA secret %s/%s: %w", ns, name, err)
	}
	return certPEM, keyPEM, nil
}

func newCA() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "podvirt-webhook-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the CA certificate: %w", err)
	}
	return encode(der, key)
}

func issueServingCert(caPEM, caKeyPEM []byte, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	ca, err := tls.X509KeyPair(caPEM, caKeyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("loading the webhook CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("parsing the webhook CA: %w", err)
	}
	if len(hosts) == 0 {
		return nil, nil, errors.New("the serving certificate needs at least one host")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the serving key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the serving certificate: %w", err)
	}
	return encode(der, key)
}

func encode(der []byte, key *ecdsa.PrivateKey) (certPEM, keyPEM []byte, err error) {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
