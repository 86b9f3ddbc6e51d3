package domainspec

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// SignatureContext separates podvirt domain signatures from every other use of the
// same key, and this encoding from later versions of it. It is the first
// field of the signed message.
const SignatureContext = "podvirt.io/domain-signature/v1"

// keyIDBytes is how many bytes of SHA-256(public key) make a key id.
const keyIDBytes = 8

// sigEncoding is unpadded base64url, strict: trailing bits must be zero, so
// one signature has exactly one text form.
var sigEncoding = base64.RawURLEncoding.Strict()

// Errors returned by Verify, wrapped with details. Test with errors.Is.
var (
	// ErrSignatureMissing means there is no signature at all.
	ErrSignatureMissing = errors.New("no domain signature")
	// ErrSignatureMalformed means the signature is not "<key id>.<base64url ed25519 signature>".
	ErrSignatureMalformed = errors.New("malformed domain signature")
	// ErrUnknownKey means no trusted public key has the signature's key id.
	ErrUnknownKey = errors.New("domain signature made with an untrusted key")
	// ErrSignatureMismatch means the signature does not match the payload: the
	// domain XML, namespace, Pod name or VMI UID differ from what was
	// signed.
	ErrSignatureMismatch = errors.New("domain signature does not match")
	// ErrInvalidKey means a key is not an ed25519 key of the right size.
	ErrInvalidKey = errors.New("invalid ed25519 key")
)

// Payload is what a signature covers.
type Payload struct {
	// Namespace of the launcher Pod (and of its VMI).
	Namespace string
	// PodName is the launcher Pod's name.
	PodName string
	// VMIUID is the UID of the VMI that owns the Pod.
	VMIUID string
	// NodeName is the node the Pod is bound to: the controller signs once
	// the scheduler has placed the Pod, so a signature is good on one node.
	NodeName string
	// DomainXML is the podvirt.io/domain annotation, byte for byte, before
	// the node agent localizes it.
	DomainXML string
}

// signedMessage is the canonical encoding of p: SignatureContext and then the fields, each
// preceded by its length as a big-endian uint64.
func signedMessage(p Payload) []byte {
	fields := [...]string{SignatureContext, p.Namespace, p.PodName, p.VMIUID, p.NodeName, p.DomainXML}
	n := 0
	for _, f := range fields {
		n += 8 + len(f)
	}
	msg := make([]byte, 0, n)
	for _, f := range fields {
		msg = binary.BigEndian.AppendUint64(msg, uint64(len(f)))
		msg = append(msg, f...)
	}
	return msg
}

// KeyID names a public key in signatures: the first 8 bytes of SHA-256 of
// the raw key, in lower-case hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:keyIDBytes])
}

// Sign signs p with key and returns "<key id>.<signature>".
func Sign(key ed25519.PrivateKey, p Payload) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("%w: private key is %d bytes, want %d", ErrInvalidKey, len(key), ed25519.PrivateKeySize)
	}
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok {
		return "", fmt.Errorf("%w: no public key", ErrInvalidKey)
	}
	sig := ed25519.Sign(key, signedMessage(p))
	return KeyID(pub) + "." + sigEncoding.EncodeToString(sig), nil
}

// Verify checks that sig is a signature of p by one of keys. The error
// wraps ErrSignatureMissing, ErrSignatureMalformed, ErrUnknownKey, ErrSignatureMismatch or
// ErrInvalidKey (a trusted key of the wrong size).
func Verify(keys []ed25519.PublicKey, p Payload, sig string) error {
	for i, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: trusted key %d is %d bytes, want %d", ErrInvalidKey, i, len(k), ed25519.PublicKeySize)
		}
	}
	id, raw, err := parseSignature(sig)
	if err != nil {
		return err
	}
	msg := signedMessage(p)
	found := false
	for _, k := range keys {
		if KeyID(k) != id {
			continue
		}
		found = true // a key id collision or a duplicate key: try them all
		if ed25519.Verify(k, msg, raw) {
			return nil
		}
	}
	if !found {
		return fmt.Errorf("%w: key id %s is not among the %d trusted keys", ErrUnknownKey, id, len(keys))
	}
	return fmt.Errorf("%w: key %s did not sign this domain for Pod %s/%s of VMI %s",
		ErrSignatureMismatch, id, p.Namespace, p.PodName, p.VMIUID)
}

// parseSignature splits a signature into its key id and raw signature bytes.
func parseSignature(sig string) (id string, raw []byte, err error) {
	if sig == "" {
		return "", nil, ErrSignatureMissing
	}
	id, enc, ok := strings.Cut(sig, ".")
	if !ok {
		return "", nil, fmt.Errorf("%w: want <key id>.<signature>", ErrSignatureMalformed)
	}
	if len(id) != 2*keyIDBytes || !isLowerHex(id) {
		return "", nil, fmt.Errorf("%w: key id is not %d lower-case hex digits", ErrSignatureMalformed, 2*keyIDBytes)
	}
	if len(enc) != sigEncoding.EncodedLen(ed25519.SignatureSize) {
		return "", nil, fmt.Errorf("%w: signature is %d characters, want %d",
			ErrSignatureMalformed, len(enc), sigEncoding.EncodedLen(ed25519.SignatureSize))
	}
	raw, err = sigEncoding.DecodeString(enc)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrSignatureMalformed, err)
	}
	if len(raw) != ed25519.SignatureSize {
		return "", nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrSignatureMalformed, len(raw), ed25519.SignatureSize)
	}
	return id, raw, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
