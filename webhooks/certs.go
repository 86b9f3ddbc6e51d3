package webhooks

import (
	"bytes"
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

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CertOptions says where the webhook serving certificate comes from and
// where its CA must be trusted.
//
// The CA lives in a Secret so that every replica serves a certificate the
// same CA bundle trusts. This is written here rather than with
// open-policy-agent/cert-controller because the local environment calls the
// webhooks by IP address (url clientConfig), which needs IP SANs.
type CertOptions struct {
	// Namespace and SecretName name the Secret holding the CA key pair.
	Namespace, SecretName string
	// Hosts are the serving certificate's DNS names and IP addresses.
	Hosts []string
	// Dir receives tls.crt and tls.key for the webhook server.
	Dir string
	// MutatingWebhooks and ValidatingWebhooks are the names of the
	// webhook configurations whose caBundle is kept equal to the CA.
	MutatingWebhooks, ValidatingWebhooks []string
	// Validity is how long a serving certificate lives. Defaults to a year.
	Validity time.Duration
}

const (
	caCertKey = "ca.crt"
	caKeyKey  = "ca.key"
)

// EnsureServingCert loads (or creates) the CA from its Secret, writes a fresh
// serving certificate signed by it into opts.Dir, and writes the CA bundle
// into the webhook configurations. It is safe to run from every replica.
func EnsureServingCert(ctx context.Context, c client.Client, opts CertOptions) error {
	if opts.Validity == 0 {
		opts.Validity = 365 * 24 * time.Hour
	}
	caPEM, caKeyPEM, err := ensureCA(ctx, c, opts.Namespace, opts.SecretName)
	if err != nil {
		return err
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
	if err := writeAtomic(filepath.Join(opts.Dir, "tls.crt"), certPEM); err != nil {
		return err
	}
	return injectCABundle(ctx, c, caPEM, opts.MutatingWebhooks, opts.ValidatingWebhooks)
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

// injectCABundle sets caBundle on every webhook of the named configurations.
func injectCABundle(ctx context.Context, c client.Client, ca []byte, mutating, validating []string) error {
	for _, name := range mutating {
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := c.Get(ctx, types.NamespacedName{Name: name}, cfg); err != nil {
			return fmt.Errorf("reading MutatingWebhookConfiguration %s (is deploy/ applied?): %w", name, err)
		}
		orig := cfg.DeepCopy()
		for i := range cfg.Webhooks {
			cfg.Webhooks[i].ClientConfig.CABundle = ca
		}
		if err := patchIfChanged(ctx, c, cfg, orig, bytes.Equal(caOfMutating(orig), ca)); err != nil {
			return fmt.Errorf("writing the CA bundle into MutatingWebhookConfiguration %s: %w", name, err)
		}
	}
	for _, name := range validating {
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := c.Get(ctx, types.NamespacedName{Name: name}, cfg); err != nil {
			return fmt.Errorf("reading ValidatingWebhookConfiguration %s (is deploy/ applied?): %w", name, err)
		}
		orig := cfg.DeepCopy()
		for i := range cfg.Webhooks {
			cfg.Webhooks[i].ClientConfig.CABundle = ca
		}
		if err := patchIfChanged(ctx, c, cfg, orig, bytes.Equal(caOfValidating(orig), ca)); err != nil {
			return fmt.Errorf("writing the CA bundle into ValidatingWebhookConfiguration %s: %w", name, err)
		}
	}
	return nil
}

func patchIfChanged(ctx context.Context, c client.Client, obj, orig client.Object, same bool) error {
	if same {
		return nil
	}
	return c.Patch(ctx, obj, client.MergeFrom(orig))
}

// caOfMutating returns the configuration's caBundle when every webhook has
// the same one, else nil.
func caOfMutating(cfg *admissionregistrationv1.MutatingWebhookConfiguration) []byte {
	var ca []byte
	for i, w := range cfg.Webhooks {
		if i > 0 && !bytes.Equal(ca, w.ClientConfig.CABundle) {
			return nil
		}
		ca = w.ClientConfig.CABundle
	}
	return ca
}

func caOfValidating(cfg *admissionregistrationv1.ValidatingWebhookConfiguration) []byte {
	var ca []byte
	for i, w := range cfg.Webhooks {
		if i > 0 && !bytes.Equal(ca, w.ClientConfig.CABundle) {
			return nil
		}
		ca = w.ClientConfig.CABundle
	}
	return ca
}
