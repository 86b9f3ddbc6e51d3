package certs

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestCertRotation(t *testing.T) {
	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s)
	c := fake.NewClientBuilder().WithScheme(s).Build()
	dir := t.TempDir()
	opts := Options{Namespace: "podvirt-system", SecretName: "ca", Hosts: []string{"127.0.0.1", "svc.example"}, Dir: dir, Validity: 3 * time.Hour}
	r, err := NewRotator(context.Background(), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	first, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	if rotated, err := r.RotateIfDue(time.Now().Add(time.Hour)); err != nil || rotated {
		t.Fatalf("rotated with two thirds left: %v, %v", rotated, err)
	}
	if rotated, err := r.RotateIfDue(time.Now().Add(2*time.Hour + 30*time.Minute)); err != nil || !rotated {
		t.Fatalf("not rotated with under a third left: %v, %v", rotated, err)
	}
	second, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	if string(first.Certificate[0]) == string(second.Certificate[0]) {
		t.Error("the certificate did not change")
	}
	// A second replica shares the CA through the Secret.
	r2, err := NewRotator(context.Background(), c, Options{Namespace: "podvirt-system", SecretName: "ca", Hosts: []string{"x"}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if string(r2.CA()) != string(r.CA()) {
		t.Error("replicas got different CAs")
	}
	if _, err := os.Stat(filepath.Join(dir, "tls.key.tmp")); !os.IsNotExist(err) {
		t.Error("a temporary file was left behind")
	}
}
