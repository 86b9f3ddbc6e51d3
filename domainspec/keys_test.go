package domainspec

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func TestGenerateKey(t *testing.T) {
	a, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != ed25519.PrivateKeySize || a.Equal(b) {
		t.Fatalf("two generated keys: %x %x", a, b)
	}
	if _, err := GenerateKey(bytes.NewReader(nil)); err == nil {
		t.Error("GenerateKey with an empty random source succeeded")
	}
}

func TestPrivateKeyPEMRoundTrip(t *testing.T) {
	k := testKey(t, 3)
	b, err := MarshalPrivateKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Errorf("not a PKCS#8 PEM block:\n%s", b)
	}
	got, err := ParsePrivateKeyPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(k) {
		t.Error("the private key changed in a PEM round trip")
	}
	if _, err := MarshalPrivateKeyPEM(k[:10]); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("marshalling a short key: %v", err)
	}
}

func TestParsePrivateKeyPEMRefuses(t *testing.T) {
	k := testKey(t, 3)
	good, _ := MarshalPrivateKeyPEM(k)
	pubPEM, _ := MarshalPublicKeyPEM(pub(k))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	for name, data := range map[string][]byte{
		"empty":          nil,
		"not PEM":        []byte("hello"),
		"public key":     pubPEM,
		"two keys":       append(append([]byte{}, good...), good...),
		"trailing data":  append(append([]byte{}, good...), "junk"...),
		"ecdsa key":      pem.EncodeToMemory(&pem.Block{Type: PrivateKeyBlockType, Bytes: ecDER}),
		"garbage in DER": pem.EncodeToMemory(&pem.Block{Type: PrivateKeyBlockType, Bytes: []byte{1, 2, 3}}),
	} {
		if _, err := ParsePrivateKeyPEM(data); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v, want ErrInvalidKey", name, err)
		}
	}
}

func TestPublicKeysPEM(t *testing.T) {
	a, b := pub(testKey(t, 4)), pub(testKey(t, 5))
	data, err := MarshalPublicKeysPEM(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "-----BEGIN PUBLIC KEY-----"); n != 2 {
		t.Fatalf("%d PUBLIC KEY blocks, want 2:\n%s", n, data)
	}
	keys, err := ParsePublicKeysPEM(append(append([]byte("\n"), data...), "\n\n"...))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !keys[0].Equal(a) || !keys[1].Equal(b) {
		t.Errorf("keys %x, want [%x %x]", keys, a, b)
	}
}

func TestParsePublicKeysPEMRefuses(t *testing.T) {
	k := testKey(t, 4)
	one, _ := MarshalPublicKeyPEM(pub(k))
	priv, _ := MarshalPrivateKeyPEM(k)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	for name, data := range map[string][]byte{
		"empty":            nil,
		"whitespace":       []byte(" \n"),
		"not PEM":          []byte("hello"),
		"private key":      append(append([]byte{}, one...), priv...),
		"junk between":     append(append(append([]byte{}, one...), "junk\n"...), one...),
		"ecdsa key":        pem.EncodeToMemory(&pem.Block{Type: PublicKeyBlockType, Bytes: ecDER}),
		"garbage in DER":   pem.EncodeToMemory(&pem.Block{Type: PublicKeyBlockType, Bytes: []byte{1}}),
		"certificate type": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}),
	} {
		if _, err := ParsePublicKeysPEM(data); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v, want ErrInvalidKey", name, err)
		}
	}
	if _, err := MarshalPublicKeysPEM(pub(k), ed25519.PublicKey{1}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("marshalling a short public key: %v", err)
	}
}

func TestSecretData(t *testing.T) {
	old, cur := testKey(t, 6), testKey(t, 7)
	data, err := SecretData(cur, pub(old))
	if err != nil {
		t.Fatal(err)
	}
	key, err := PrivateKeyFromSecretData(data)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equal(cur) {
		t.Error("the signing key changed through the Secret")
	}
	keys, err := PublicKeysFromSecretData(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !keys[0].Equal(pub(cur)) || !keys[1].Equal(pub(old)) {
		t.Errorf("trusted keys %x", keys)
	}
	// A node agent given only the public half verifies what the controller signs.
	p := tinyPayload()
	sig, err := Sign(key, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(keys, p, sig); err != nil {
		t.Error(err)
	}

	if _, err := PrivateKeyFromSecretData(map[string][]byte{SecretPublicKeys: data[SecretPublicKeys]}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("no private key: %v", err)
	}
	if _, err := PublicKeysFromSecretData(map[string][]byte{}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("no public keys: %v", err)
	}
	if _, err := PublicKeysFromSecretData(map[string][]byte{SecretPublicKeys: data[SecretPrivateKey]}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("private key where public keys belong: %v", err)
	}
	if _, err := PrivateKeyFromSecretData(map[string][]byte{SecretPrivateKey: []byte("x")}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("garbage private key: %v", err)
	}
	if _, err := SecretData(ed25519.PrivateKey{1}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("SecretData of a short key: %v", err)
	}
	if _, err := SecretData(cur, ed25519.PublicKey{1}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("SecretData with a short previous key: %v", err)
	}
}

func TestParsePrivateKeyPEMRefusesLeadingText(t *testing.T) {
	good, _ := MarshalPrivateKeyPEM(testKey(t, 3))
	if _, err := ParsePrivateKeyPEM(append([]byte("junk\n"), good...)); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("text before the block: %v", err)
	}
	if _, err := ParsePrivateKeyPEM(append([]byte("\r\n\n"), good...)); err != nil {
		t.Errorf("white space before the block: %v", err)
	}
}

// White space around a key is not data: a Secret edited by hand keeps its
// final newline, or gains some indentation.
func TestPEMWhiteSpace(t *testing.T) {
	k := testKey(t, 3)
	priv, _ := MarshalPrivateKeyPEM(k)
	for _, pad := range []string{" ", "\t", "\r\n", "\n \t\r\n"} {
		got, err := ParsePrivateKeyPEM(append([]byte(pad), append(append([]byte{}, priv...), pad...)...))
		if err != nil || !got.Equal(k) {
			t.Errorf("private key padded with %q: %v", pad, err)
		}
	}
	pubs, _ := MarshalPublicKeysPEM(pub(k), pub(testKey(t, 4)))
	for _, pad := range []string{" ", "\t", "\r\n"} {
		keys, err := ParsePublicKeysPEM(append([]byte(pad), append(append([]byte{}, pubs...), pad...)...))
		if err != nil || len(keys) != 2 {
			t.Errorf("public keys padded with %q: %d keys, %v", pad, len(keys), err)
		}
	}
	if out, err := MarshalPublicKeysPEM(); err != nil || len(out) != 0 {
		t.Errorf("no keys: %q, %v", out, err)
	}
}

// A block that does not parse is refused, not skipped for the next one:
// pem.Decode on its own would hand back the second key as if it were the
// first, and drop the first without a word.
func TestPEMBlocksAreNotSkipped(t *testing.T) {
	a, _ := MarshalPublicKeyPEM(pub(testKey(t, 4)))
	priv, _ := MarshalPrivateKeyPEM(testKey(t, 3))
	for name, bad := range map[string]string{
		"bad base64":     "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
		"no end dashes":  "-----BEGIN PUBLIC KEY\nAAAA\n-----END PUBLIC KEY-----\n",
		"unterminated":   "-----BEGIN PUBLIC KEY-----\n",
		"mismatched end": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		"text after end": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY----- x\n",
	} {
		if keys, err := ParsePublicKeysPEM(append([]byte(bad), a...)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s, then a good public key: %d keys, %v; want ErrInvalidKey", name, len(keys), err)
		}
		private := strings.ReplaceAll(bad, "PUBLIC", "PRIVATE")
		if _, err := ParsePrivateKeyPEM(append([]byte(private), priv...)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s, then a good private key: %v; want ErrInvalidKey", name, err)
		}
	}
}
