package domainspec

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
)

// PEM block types of keys.
const (
	PrivateKeyBlockType = "PRIVATE KEY" // PKCS#8
	PublicKeyBlockType  = "PUBLIC KEY"  // PKIX
)

// Fields of the Data map of a Kubernetes Secret (or ConfigMap) holding keys.
const (
	// SecretPrivateKey holds the controller's signing key: one PKCS#8
	// PRIVATE KEY block. Only the controller's Secret has it.
	SecretPrivateKey = "signing-key.pem"
	// SecretPublicKeys holds the public keys node agents trust: one or
	// more PUBLIC KEY blocks, the current one first.
	SecretPublicKeys = "trusted-keys.pem"
)

// GenerateKey makes a new signing key from random (crypto/rand when nil).
func GenerateKey(random io.Reader) (ed25519.PrivateKey, error) {
	if random == nil {
		random = rand.Reader
	}
	_, key, err := ed25519.GenerateKey(random)
	if err != nil {
		return nil, fmt.Errorf("generating an ed25519 key: %w", err)
	}
	return key, nil
}

// MarshalPrivateKeyPEM encodes key as a PKCS#8 PRIVATE KEY PEM block.
func MarshalPrivateKeyPEM(key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key is %d bytes, want %d", ErrInvalidKey, len(key), ed25519.PrivateKeySize)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: PrivateKeyBlockType, Bytes: der}), nil
}

// ParsePrivateKeyPEM decodes exactly one PKCS#8 PRIVATE KEY PEM block
// holding an ed25519 key. Anything else in data is an error.
func ParsePrivateKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	block, rest := decodePEM(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block at the start", ErrInvalidKey)
	}
	if block.Type != PrivateKeyBlockType {
		return nil, fmt.Errorf("%w: PEM block %q, want %q", ErrInvalidKey, block.Type, PrivateKeyBlockType)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data after the private key block", ErrInvalidKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: the private key is a %T, not ed25519", ErrInvalidKey, k)
	}
	return key, nil
}

// MarshalPublicKeyPEM encodes pub as a PKIX PUBLIC KEY PEM block.
func MarshalPublicKeyPEM(pub ed25519.PublicKey) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key is %d bytes, want %d", ErrInvalidKey, len(pub), ed25519.PublicKeySize)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding the public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: PublicKeyBlockType, Bytes: der}), nil
}

// MarshalPublicKeysPEM concatenates the PUBLIC KEY blocks of keys, in order.
func MarshalPublicKeysPEM(keys ...ed25519.PublicKey) ([]byte, error) {
	var out []byte
	for i, k := range keys {
		b, err := MarshalPublicKeyPEM(k)
		if err != nil {
			return nil, fmt.Errorf("public key %d: %w", i, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

// ParsePublicKeysPEM decodes one or more PKIX PUBLIC KEY PEM blocks holding
// ed25519 keys, in order. Blocks of another type (a private key pasted by
// mistake), non-PEM data between or after blocks, and an empty input are
// errors.
func ParsePublicKeysPEM(data []byte) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	rest := data
	for len(bytes.TrimSpace(rest)) != 0 {
		var block *pem.Block
		block, rest = decodePEM(rest)
		if block == nil {
			return nil, fmt.Errorf("%w: data that is not a PEM block after %d public keys", ErrInvalidKey, len(keys))
		}
		if block.Type != PublicKeyBlockType {
			return nil, fmt.Errorf("%w: PEM block %d is %q, want %q", ErrInvalidKey, len(keys), block.Type, PublicKeyBlockType)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: public key %d: %w", ErrInvalidKey, len(keys), err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: public key %d is a %T, not ed25519", ErrInvalidKey, len(keys), k)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no public key", ErrInvalidKey)
	}
	return keys, nil
}

// SecretData is the Data of the controller's key Secret: key under
// SecretPrivateKey, and under SecretPublicKeys its public key followed by
// previous, the keys still trusted while a rotation is under way.
func SecretData(key ed25519.PrivateKey, previous ...ed25519.PublicKey) (map[string][]byte, error) {
	priv, err := MarshalPrivateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: no public key", ErrInvalidKey)
	}
	pubs, err := MarshalPublicKeysPEM(append([]ed25519.PublicKey{pub}, previous...)...)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{SecretPrivateKey: priv, SecretPublicKeys: pubs}, nil
}

// PrivateKeyFromSecretData reads the signing key from a Secret's Data.
func PrivateKeyFromSecretData(data map[string][]byte) (ed25519.PrivateKey, error) {
	b, ok := data[SecretPrivateKey]
	if !ok {
		return nil, fmt.Errorf("%w: the Secret has no %q", ErrInvalidKey, SecretPrivateKey)
	}
	key, err := ParsePrivateKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SecretPrivateKey, err)
	}
	return key, nil
}

// PublicKeysFromSecretData reads the trusted public keys from a Secret's (or
// a ConfigMap's BinaryData) Data.
func PublicKeysFromSecretData(data map[string][]byte) ([]ed25519.PublicKey, error) {
	b, ok := data[SecretPublicKeys]
	if !ok {
		return nil, fmt.Errorf("%w: the Secret has no %q", ErrInvalidKey, SecretPublicKeys)
	}
	keys, err := ParsePublicKeysPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SecretPublicKeys, err)
	}
	return keys, nil
}

// decodePEM is pem.Decode without its leniency: only white space may come
// before the block (pem.Decode skips any text up to a BEGIN line).
func decodePEM(data []byte) (*pem.Block, []byte) {
	start := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(start, []byte("-----BEGIN ")) {
		return nil, data
	}
	// pem.Decode takes a BEGIN only at the start of a line and skips a
	// block it cannot parse for the next one: decode from the BEGIN line,
	// and only the block that starts there.
	block, rest := pem.Decode(start)
	if block == nil || bytes.Count(start[:len(start)-len(rest)], []byte("-----BEGIN ")) != 1 {
		return nil, data
	}
	return block, rest
}
