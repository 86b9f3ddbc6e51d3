package domainspec_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/podvirt/podvirt/domainspec"
)

// The controller signs the domain XML of a launcher Pod; the node agent,
// holding only the trusted public keys, verifies it before defining the
// domain.
func Example() {
	// Controller side: the key lives in a Secret.
	key, err := domainspec.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	secret, err := domainspec.SecretData(key)
	if err != nil {
		panic(err)
	}
	signingKey, err := domainspec.PrivateKeyFromSecretData(secret)
	if err != nil {
		panic(err)
	}
	p := domainspec.Payload{
		Namespace: "default",
		PodName:   "virt-launcher-tiny",
		VMIUID:    "6f1d2c1e-7b1a-4d8e-9a55-0c3f3b0a9e11",
		DomainXML: `<domain type="qemu"><name>default_tiny</name></domain>`,
	}
	sig, err := domainspec.Sign(signingKey, p)
	if err != nil {
		panic(err)
	}
	annotations := map[string]string{domainspec.AnnotationSignature: sig}

	// Node agent side: only the public keys.
	trusted, err := domainspec.ParsePublicKeysPEM(secret[domainspec.SecretPublicKeys])
	if err != nil {
		panic(err)
	}
	fmt.Println(domainspec.Verify(trusted, p, annotations[domainspec.AnnotationSignature]))

	// The same annotations copied onto another Pod.
	p.PodName = "virt-launcher-evil"
	err = domainspec.Verify(trusted, p, annotations[domainspec.AnnotationSignature])
	fmt.Println(errors.Is(err, domainspec.ErrSignatureMismatch))
	// Output:
	// <nil>
	// true
}

// While a key is rotated, node agents trust both the new and the old key;
// signatures name their key, so both verify.
func ExampleVerify_rotation() {
	oldKey, _ := domainspec.GenerateKey(nil)
	newKey, _ := domainspec.GenerateKey(nil)
	trusted := []ed25519.PublicKey{newKey.Public().(ed25519.PublicKey), oldKey.Public().(ed25519.PublicKey)}
	p := domainspec.Payload{Namespace: "default", PodName: "virt-launcher-tiny", VMIUID: "u", DomainXML: "<domain/>"}
	for _, k := range []ed25519.PrivateKey{oldKey, newKey} {
		sig, _ := domainspec.Sign(k, p)
		fmt.Println(domainspec.Verify(trusted, p, sig))
	}
	sig, _ := domainspec.Sign(oldKey, p)
	err := domainspec.Verify(trusted[:1], p, sig) // the old key retired
	fmt.Println(errors.Is(err, domainspec.ErrUnknownKey))
	// Output:
	// <nil>
	// <nil>
	// true
}
