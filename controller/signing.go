package controller

import (
	"context"
	"crypto/ed25519"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podvirt/podvirt/domainspec"
)

// SigningKeyOptions name where the domain signing key lives.
type SigningKeyOptions struct {
	// Namespace and SecretName name the Secret with the private key (only
	// the controller reads it).
	Namespace, SecretName string
	// TrustedKeysConfigMap names the ConfigMap (same namespace) that holds
	// the public keys for node agents, under domainspec.SecretPublicKeys.
	TrustedKeysConfigMap string
}

// EnsureSigningKey loads the controller's ed25519 signing key from its
// Secret, creating it on first start, and publishes the public keys for
// node agents in a ConfigMap. Every replica may call it.
func EnsureSigningKey(ctx context.Context, c client.Client, opts SigningKeyOptions) (ed25519.PrivateKey, error) {
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: opts.Namespace, Name: opts.SecretName}
	err := c.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) {
		priv, gerr := domainspec.GenerateKey(nil)
		if gerr != nil {
			return nil, gerr
		}
		data, gerr := domainspec.SecretData(priv)
		if gerr != nil {
			return nil, gerr
		}
		secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: opts.Namespace, Name: opts.SecretName}, Data: data}
		if err = c.Create(ctx, secret); apierrors.IsAlreadyExists(err) {
			err = c.Get(ctx, key, secret)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the signing key secret %s: %w", key, err)
	}
	priv, err := domainspec.PrivateKeyFromSecretData(secret.Data)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", key, err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: opts.Namespace, Name: opts.TrustedKeysConfigMap}}
	trusted := string(secret.Data[domainspec.SecretPublicKeys])
	err = c.Get(ctx, client.ObjectKeyFromObject(cm), cm)
	switch {
	case apierrors.IsNotFound(err):
		cm.Data = map[string]string{domainspec.SecretPublicKeys: trusted}
		if err := c.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("publishing the trusted keys: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("reading the trusted keys ConfigMap: %w", err)
	case cm.Data[domainspec.SecretPublicKeys] != trusted:
		cm.Data = map[string]string{domainspec.SecretPublicKeys: trusted}
		if err := c.Update(ctx, cm); err != nil {
			return nil, fmt.Errorf("publishing the trusted keys: %w", err)
		}
	}
	return priv, nil
}
