//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestCABundleKeptCurrent overwrites the VMI validator's caBundle (the
// webhook every VMI create calls), as a re-applied manifest or a stray
// edit would: the controller writes it back with no restart, and VMIs are
// admitted again.
func TestCABundleKeptCurrent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)
	key := types.NamespacedName{Name: "podvirt-vmi-validator"}
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := e.Client.Get(ctx, key, cfg); err != nil {
		t.Fatal(err)
	}
	good := cfg.Webhooks[0].ClientConfig.CABundle
	orig := cfg.DeepCopy()
	cfg.Webhooks[0].ClientConfig.CABundle = []byte("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
	if err := e.Client.Patch(ctx, cfg, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, "the caBundle written back", 30*time.Second, func() (bool, error) {
		err := e.Client.Get(ctx, key, cfg)
		return err == nil && bytes.Equal(cfg.Webhooks[0].ClientConfig.CABundle, good), err
	})
	tiny := framework.Manifest(t, libvmi.NewTiny())
	framework.Eventually(t, "VMIs admitted again", 30*time.Second, func() (bool, error) {
		_, err := e.Kubectl(tiny, "apply", "--dry-run=server", "-n", ns, "-f", "-")
		return err == nil, err
	})
}
