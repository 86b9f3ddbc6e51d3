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
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
	// Dir receives tls.crt and tls.key for the webhook server.
	Dir string
	// Validity is how long a serving certificate lives. Defaults to a year.
	Validity time.Duration
}

const (
	caCertKey = "ca.crt"
	caKeyKey  = "ca.key"
)

// Rotator keeps the serving certificate fresh: it issues one at start
// and a new one once less than a third of its validity is left. The
// webhook server's certificate watcher loads it with no restart.
type Rotator struct {
	opts            Options
	caPEM, caKeyPEM []byte
	// Interval is how often the certificate's age is checked. Defaults to
	// an hour.
	Interval time.Duration
}

// NewRotator loads (or creates) the CA and writes a first serving
// certificate.
func NewRotator(ctx context.Context, c client.Client, opts Options) (*Rotator, error) {
	if opts.Validity == 0 {
		opts.Validity = 365 * 24 * time.Hour
	}
	caPEM, caKeyPEM, err := ensureCA(ctx, c, opts.Namespace, opts.SecretName)
	if err != nil {
		return nil, err
	}
	if err := WriteServingCert(caPEM, caKeyPEM, opts); err != nil {
		return nil, err
	}
	return &Rotator{opts: opts, caPEM: caPEM, caKeyPEM: caKeyPEM}, nil
}

// CA is the CA certificate (PEM) for caBundle.
func (r *Rotator) CA() []byte { return r.caPEM }

// NeedLeaderElection implements manager.LeaderElectionRunnable: every
// replica serves, so every replica rotates its own certificate.
func (r *Rotator) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable.
func (r *Rotator) Start(ctx context.Context) error {
	interval := r.Interval
	if interval == 0 {
		interval = time.Hour
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := r.RotateIfDue(time.Now()); err != nil {
				return err
			}
		}
	}
}

// RotateIfDue issues a new serving certificate when less than a third of
// the current one's validity is left at now, and reports whether it did.
func (r *Rotator) RotateIfDue(now time.Time) (bool, error) {
	data, err := os.ReadFile(filepath.Join(r.opts.Dir, "tls.crt"))
	if err != nil {
		return false, fmt.Errorf("reading the serving certificate: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return false, errors.New("the serving certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false, fmt.Errorf("parsing the serving certificate: %w", err)
	}
	if cert.NotAfter.Sub(now) > cert.NotAfter.Sub(cert.NotBefore)/3 {
		return false, nil
	}
	return true, WriteServingCert(r.caPEM, r.caKeyPEM, r.opts)
}

// WriteServingCert issues a serving certificate from the CA and writes it
// to opts.Dir, key first, so the webhook server's certificate watcher
// picks up a consistent pair.
func WriteServingCert(caPEM, caKeyPEM []byte, opts Options) error {
	if opts.Validity == 0 {
		opts.Validity = 365 * 24 * time.Hour
	}
	certPEM, keyPEM, err := issueServingCert(caPEM, caKeyPEM, opts.Hosts, opts.Validity)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return fmt.Errorf("creating the certificate directory: %w", err)
	}
	if err := writeAtomic(filepath.Join(opts.Dir, "tls.key"), keyPEM); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(opts.Dir, "tls.crt"), certPEM)
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
