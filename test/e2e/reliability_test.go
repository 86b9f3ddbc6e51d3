//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestCABundleKeptCurrent overwrites the VMI defaulter's caBundle, as a
// re-applied manifest or a stray edit would: the controller writes it back
// with no restart, and VMIs are admitted again.
func TestCABundleKeptCurrent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.namespace(t)
	key := types.NamespacedName{Name: "podvirt-vmi-defaulter"}
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := e.c.Get(ctx, key, cfg); err != nil {
		t.Fatal(err)
	}
	good := cfg.Webhooks[0].ClientConfig.CABundle
	orig := cfg.DeepCopy()
	cfg.Webhooks[0].ClientConfig.CABundle = []byte("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
	if err := e.c.Patch(ctx, cfg, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the caBundle written back", 30*time.Second, func() (bool, error) {
		err := e.c.Get(ctx, key, cfg)
		return err == nil && bytes.Equal(cfg.Webhooks[0].ClientConfig.CABundle, good), err
	})
	eventually(t, "VMIs admitted again", 30*time.Second, func() (bool, error) {
		_, err := e.kubectlRun(tinyVMI, "apply", "--dry-run=server", "-n", ns, "-f", "-")
		return err == nil, err
	})
}
