package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func newTestRotator(t *testing.T, validity time.Duration) *Rotator {
	t.Helper()
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(s).Build()
	r, err := NewRotator(context.Background(), c, Options{
		Namespace: "podvirt-system", SecretName: "ca", Hosts: []string{"127.0.0.1", "svc.example"},
		Dir: t.TempDir(), Validity: validity,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRotationKeepsHandshakesWorking runs the Rotator with a 3-second
// validity behind a TLS listener whose GetCertificate is the Rotator's (the
// webhook server's path), and handshakes every 20ms, verifying against the
// CA at the time of each handshake, until the served certificate has
// changed twice. Every handshake must succeed: the new certificate is
// served before the old one expires. The files in Dir follow.
func TestRotationKeepsHandshakesWorking(t *testing.T) {
	if testing.Short() {
		t.Skip("takes several seconds")
	}
	r := newTestRotator(t, 3*time.Second)
	if got := r.interval(); got != 300*time.Millisecond {
		t.Fatalf("check interval %s, want a tenth of the validity", got)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: r.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.(*tls.Conn).Handshake()
			}()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Start(ctx) }()

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(r.CA())
	var served []*x509.Certificate
	handshakes := 0
	deadline := time.Now().Add(15 * time.Second)
	for len(served) < 3 && time.Now().Before(deadline) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", ln.Addr().String(),
			&tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}) // verifies the chain, the IP SAN and expiry now
		if err != nil {
			t.Fatalf("handshake %d failed: %v", handshakes, err)
		}
		handshakes++
		leaf := conn.ConnectionState().PeerCertificates[0]
		_ = conn.Close()
		if n := len(served); n == 0 || !served[n-1].Equal(leaf) {
			served = append(served, leaf)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(served) < 3 {
		t.Fatalf("served %d distinct certificates in %d handshakes, want 3 (two rotations)", len(served), handshakes)
	}
	for i := 1; i < len(served); i++ {
		if !served[i].NotAfter.After(served[i-1].NotAfter) {
			t.Errorf("certificate %d does not outlive certificate %d", i, i-1)
		}
	}
	t.Logf("%d handshakes, %d certificates", handshakes, len(served))

	pair, err := tls.LoadX509KeyPair(filepath.Join(r.opts.Dir, "tls.crt"), filepath.Join(r.opts.Dir, "tls.key"))
	if err != nil {
		t.Fatalf("the files in Dir are not a key pair: %v", err)
	}
	if leaf, _ := x509.ParseCertificate(pair.Certificate[0]); !leaf.Equal(r.Certificate()) {
		t.Error("tls.crt is not the certificate being served")
	}
	for _, f := range []string{"tls.crt.tmp", "tls.key.tmp"} {
		if _, err := os.Stat(filepath.Join(r.opts.Dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s was left behind", f)
		}
	}
}

// TestRotateIfDueUsesTheConfiguredValidity: the serving certificate's
// NotBefore is back-dated an hour for clock skew; that hour must not count
// as lifetime, or a one-minute certificate would be "due" at every check.
func TestRotateIfDueUsesTheConfiguredValidity(t *testing.T) {
	r := newTestRotator(t, time.Minute)
	first := r.Certificate()
	if rotated, err := r.RotateIfDue(time.Now().Add(30 * time.Second)); err != nil || rotated {
		t.Fatalf("rotated with half the minute left: %v, %v", rotated, err)
	}
	if rotated, err := r.RotateIfDue(time.Now().Add(41 * time.Second)); err != nil || !rotated {
		t.Fatalf("not rotated with under a third left: %v, %v", rotated, err)
	}
	if r.Certificate().Equal(first) {
		t.Error("the served certificate did not change")
	}
	if got, _ := r.GetCertificate(nil); got.Leaf != r.Certificate() {
		t.Error("GetCertificate and Certificate disagree")
	}
}

// TestRotatorKeepsServingWhenRotationFails: when a rotation fails (here
// the certificate directory became a file) the current certificate stays
// served, and the next attempt (Start logs the error and retries at the
// next check) succeeds once the cause is gone.
func TestRotatorKeepsServingWhenRotationFails(t *testing.T) {
	r := newTestRotator(t, time.Minute)
	before := r.Certificate()
	if err := os.RemoveAll(r.opts.Dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.opts.Dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RotateIfDue(time.Now().Add(time.Minute)); err == nil {
		t.Fatal("rotation into a file succeeded")
	}
	if !r.Certificate().Equal(before) {
		t.Error("a failed rotation replaced the served certificate")
	}
	if err := os.Remove(r.opts.Dir); err != nil {
		t.Fatal(err)
	}
	if rotated, err := r.RotateIfDue(time.Now().Add(time.Minute)); err != nil || !rotated {
		t.Fatalf("the retry failed: %v, %v", rotated, err)
	}
	if r.Certificate().Equal(before) {
		t.Error("the retry did not replace the served certificate")
	}
}
