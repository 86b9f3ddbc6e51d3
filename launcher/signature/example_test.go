package signature_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/podvirt/podvirt/launcher/signature"
)

// The controller signs the domain XML of a launcher Pod; the node agent,
// holding only the trusted public keys, verifies it before defining the
// domain.
func Example() {
	// Controller side: the key lives in a Secret.
	key, err := signature.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	secret, err := signature.SecretData(key)
	if err != nil {
		panic(err)
	}
	signingKey, err := signature.PrivateKeyFromSecretData(secret)
	if err != nil {
		panic(err)
	}
	p := signature.Payload{
		Namespace: "default",
		PodName:   "virt-launcher-tiny",
		VMIUID:    "6f1d2c1e-7b1a-4d8e-9a55-0c3f3b0a9e11",
		DomainXML: `<domain type="qemu"><name>default_tiny</name></domain>`,
	}
	sig, err := signature.Sign(signingKey, p)
	if err != nil {
		panic(err)
	}
	annotations := map[string]string{signature.Annotation: sig}

	// Node agent side: only the public keys.
	trusted, err := signature.ParsePublicKeysPEM(secret[signature.SecretPublicKeys])
	if err != nil {
		panic(err)
	}
	fmt.Println(signature.Verify(trusted, p, annotations[signature.Annotation]))

	// The same annotations copied onto another Pod.
	p.PodName = "virt-launcher-evil"
	err = signature.Verify(trusted, p, annotations[signature.Annotation])
	fmt.Println(errors.Is(err, signature.ErrMismatch))
	// Output:
	// <nil>
	// true
}

// While a key is rotated, node agents trust both the new and the old key;
// signatures name their key, so both verify.
func ExampleVerify_rotation() {
	oldKey, _ := signature.GenerateKey(nil)
	newKey, _ := signature.GenerateKey(nil)
	trusted := []ed25519.PublicKey{newKey.Public().(ed25519.PublicKey), oldKey.Public().(ed25519.PublicKey)}
	p := signature.Payload{Namespace: "default", PodName: "virt-launcher-tiny", VMIUID: "u", DomainXML: "<domain/>"}
	for _, k := range []ed25519.PrivateKey{oldKey, newKey} {
		sig, _ := signature.Sign(k, p)
		fmt.Println(signature.Verify(trusted, p, sig))
	}
	sig, _ := signature.Sign(oldKey, p)
	err := signature.Verify(trusted[:1], p, sig) // the old key retired
	fmt.Println(errors.Is(err, signature.ErrUnknownKey))
	// Output:
	// <nil>
	// <nil>
	// true
}
