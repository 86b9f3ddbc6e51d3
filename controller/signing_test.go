package controller

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/podvirt/podvirt/domainspec"
)

var keyOpts = SigningKeyOptions{Namespace: "podvirt", SecretName: "signing-key", TrustedKeysConfigMap: "trusted-keys"}

func secretOf(t *testing.T, key ed25519.PrivateKey, previous ...ed25519.PublicKey) *corev1.Secret {
	t.Helper()
	data, err := domainspec.SecretData(key, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "podvirt", Name: "signing-key"}, Data: data}
}

func trustedKeys(t *testing.T, c client.Client) []ed25519.PublicKey {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "podvirt", Name: "trusted-keys"}, cm); err != nil {
		t.Fatal(err)
	}
	keys, err := domainspec.ParsePublicKeysPEM([]byte(cm.Data[domainspec.SecretPublicKeys]))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// On first start the key is made and kept in the Secret, and its public
// half published; every later start, of any replica, uses the same key.
func TestEnsureSigningKeyFirstStart(t *testing.T) {
	_, c, n, _ := newIntercepted(t, interceptor.Funcs{})
	key, err := EnsureSigningKey(context.Background(), c, keyOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != ed25519.PrivateKeySize {
		t.Fatalf("key of %d bytes", len(key))
	}
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "podvirt", Name: "signing-key"}, s); err != nil {
		t.Fatal(err)
	}
	stored, err := domainspec.PrivateKeyFromSecretData(s.Data)
	if err != nil || !stored.Equal(key) {
		t.Fatalf("the Secret holds another key (%v)", err)
	}
	if keys := trustedKeys(t, c); len(keys) != 1 || !keys[0].Equal(key.Public()) {
		t.Errorf("trusted keys %x, want the signing key's public half", keys)
	}
	if n["create Secret"] != 1 || n["create ConfigMap"] != 1 {
		t.Errorf("writes %v", n)
	}
	for k := range n {
		delete(n, k)
	}
	again, err := EnsureSigningKey(context.Background(), c, keyOpts)
	if err != nil || !again.Equal(key) {
		t.Fatalf("second start: another key (%v)", err)
	}
	if len(n) != 0 {
		t.Errorf("second start wrote %v", n)
	}
}

// During a rotation the Secret lists the previous key too: node agents get
// both, and a stale ConfigMap is brought up to date.
func TestEnsureSigningKeyPublishesRotation(t *testing.T) {
	cur, old := testSeedKey(7), testSeedKey(8)
	stale := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "podvirt", Name: "trusted-keys"},
		Data: map[string]string{domainspec.SecretPublicKeys: "stale"}}
	_, c, n, _ := newIntercepted(t, interceptor.Funcs{}, secretOf(t, cur, old.Public().(ed25519.PublicKey)), stale)
	key, err := EnsureSigningKey(context.Background(), c, keyOpts)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equal(cur) {
		t.Error("not the Secret's key")
	}
	keys := trustedKeys(t, c)
	if len(keys) != 2 || !keys[0].Equal(cur.Public()) || !keys[1].Equal(old.Public()) {
		t.Errorf("trusted keys %x, want the current and the previous key", keys)
	}
	if n["update ConfigMap"] != 1 || n["create Secret"] != 0 {
		t.Errorf("writes %v", n)
	}
}

// Two replicas starting at once: the one that loses the race to create the
// Secret uses the winner's key.
func TestEnsureSigningKeyRace(t *testing.T) {
	winner := testSeedKey(9)
	_, c, _, _ := newIntercepted(t, interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if _, ok := obj.(*corev1.Secret); ok {
			if err := c.Create(ctx, secretOf(t, winner)); err != nil {
				return err
			}
			return apierrors.NewAlreadyExists(schema.GroupResource{Resource: "secrets"}, obj.GetName())
		}
		if _, ok := obj.(*corev1.ConfigMap); ok {
			// The winner published first.
			return apierrors.NewAlreadyExists(schema.GroupResource{Resource: "configmaps"}, obj.GetName())
		}
		return c.Create(ctx, obj, opts...)
	}})
	key, err := EnsureSigningKey(context.Background(), c, keyOpts)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equal(winner) {
		t.Error("the loser of the race signs with a key of its own")
	}
}

func TestEnsureSigningKeyErrors(t *testing.T) {
	getFails := func(kind string) interceptor.Funcs {
		return interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if typeName(obj) == kind {
				return errBoom
			}
			return c.Get(ctx, key, obj, opts...)
		}}
	}
	writeFails := func(kind string) interceptor.Funcs {
		fail := func(obj client.Object) bool { return typeName(obj) == kind }
		return interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				if fail(obj) {
					return errBoom
				}
				return c.Create(ctx, obj, opts...)
			},
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				if fail(obj) {
					return errBoom
				}
				return c.Update(ctx, obj, opts...)
			},
		}
	}
	stale := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "podvirt", Name: "trusted-keys"}, Data: map[string]string{domainspec.SecretPublicKeys: "stale"}}
	for name, c := range map[string]struct {
		f    interceptor.Funcs
		objs []client.Object
	}{
		"reading the Secret":     {getFails("Secret"), nil},
		"creating the Secret":    {writeFails("Secret"), nil},
		"reading the ConfigMap":  {getFails("ConfigMap"), nil},
		"creating the ConfigMap": {writeFails("ConfigMap"), nil},
		"updating the ConfigMap": {writeFails("ConfigMap"), []client.Object{secretOf(t, testSeedKey(1)), stale}},
	} {
		_, cl, _, _ := newIntercepted(t, c.f, c.objs...)
		if key, err := EnsureSigningKey(context.Background(), cl, keyOpts); !errors.Is(err, errBoom) || key != nil {
			t.Errorf("%s failing: %v", name, err)
		}
	}
	broken := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "podvirt", Name: "signing-key"}, Data: map[string][]byte{domainspec.SecretPrivateKey: []byte("junk")}}
	_, cl, n, _ := newIntercepted(t, interceptor.Funcs{}, broken)
	if key, err := EnsureSigningKey(context.Background(), cl, keyOpts); !errors.Is(err, domainspec.ErrInvalidKey) || key != nil {
		t.Errorf("a Secret of junk: %v", err)
	}
	if len(n) != 0 {
		t.Errorf("a Secret of junk: writes %v (it must not be replaced, nor junk published)", n)
	}
}

func testSeedKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	return ed25519.NewKeyFromSeed(s)
}
