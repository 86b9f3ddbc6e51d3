package domainspec

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

// testKey is deterministic so that failures reproduce.
func testKey(t testing.TB, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func tinyPayload() Payload {
	return Payload{
		Namespace: "default",
		PodName:   "virt-launcher-tiny",
		VMIUID:    "6f1d2c1e-7b1a-4d8e-9a55-0c3f3b0a9e11",
		DomainXML: `<domain type="qemu"><name>default_tiny</name></domain>`,
	}
}

func mustSign(t testing.TB, k ed25519.PrivateKey, p Payload) string {
	t.Helper()
	s, err := Sign(k, p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	k := testKey(t, 1)
	p := tinyPayload()
	sig := mustSign(t, k, p)
	if err := Verify([]ed25519.PublicKey{pub(k)}, p, sig); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	id, enc, _ := strings.Cut(sig, ".")
	if id != KeyID(pub(k)) || len(id) != 16 || len(enc) != 86 {
		t.Errorf("signature %q: want <16 hex>.<86 base64url>", sig)
	}
	if again := mustSign(t, k, p); again != sig {
		t.Errorf("ed25519 signatures are deterministic, got %q then %q", sig, again)
	}
}

func TestTamperedFieldFails(t *testing.T) {
	k := testKey(t, 1)
	keys := []ed25519.PublicKey{pub(k)}
	p := tinyPayload()
	sig := mustSign(t, k, p)
	for name, mutate := range map[string]func(*Payload){
		"namespace":        func(p *Payload) { p.Namespace = "kube-system" },
		"pod name":         func(p *Payload) { p.PodName = "virt-launcher-other" },
		"vmi uid":          func(p *Payload) { p.VMIUID = "00000000-0000-0000-0000-000000000000" },
		"domain xml":       func(p *Payload) { p.DomainXML = strings.Replace(p.DomainXML, "qemu", "kvm", 1) },
		"xml whitespace":   func(p *Payload) { p.DomainXML += "\n" },
		"empty namespace":  func(p *Payload) { p.Namespace = "" },
		"empty everything": func(p *Payload) { *p = Payload{} },
	} {
		t.Run(name, func(t *testing.T) {
			q := p
			mutate(&q)
			if err := Verify(keys, q, sig); !errors.Is(err, ErrSignatureMismatch) {
				t.Fatalf("Verify = %v, want ErrSignatureMismatch", err)
			}
		})
	}
}

func TestFieldBoundariesCannotShift(t *testing.T) {
	k := testKey(t, 1)
	keys := []ed25519.PublicKey{pub(k)}
	pairs := [][2]Payload{
		{{Namespace: "a", PodName: "bc"}, {Namespace: "ab", PodName: "c"}},
		{{PodName: "p", VMIUID: "uid"}, {PodName: "pu", VMIUID: "id"}},
		{{VMIUID: "u", DomainXML: "<domain/>"}, {VMIUID: "u<", DomainXML: "domain/>"}},
		{{Namespace: "", PodName: "x"}, {Namespace: "x", PodName: ""}},
		// A length prefix smuggled into a field.
		{{Namespace: "a\x00\x00\x00\x00\x00\x00\x00\x01b"}, {Namespace: "a", PodName: "b"}},
	}
	for i, pair := range pairs {
		if bytes.Equal(signedMessage(pair[0]), signedMessage(pair[1])) {
			t.Errorf("pair %d: %+v and %+v encode the same", i, pair[0], pair[1])
		}
		sig := mustSign(t, k, pair[0])
		if err := Verify(keys, pair[1], sig); !errors.Is(err, ErrSignatureMismatch) {
			t.Errorf("pair %d: signature of %+v verified for %+v: %v", i, pair[0], pair[1], err)
		}
	}
}

func TestMessageStartsWithContext(t *testing.T) {
	m := signedMessage(Payload{})
	want := append([]byte{0, 0, 0, 0, 0, 0, 0, byte(len(SignatureContext))}, SignatureContext...)
	if !bytes.HasPrefix(m, want) {
		t.Errorf("message %q does not start with the length-prefixed context", m)
	}
	if len(m) != len(want)+5*8 { // five empty, length-prefixed fields
		t.Errorf("empty payload encodes to %d bytes, want %d", len(m), len(want)+5*8)
	}
}

func TestWrongKey(t *testing.T) {
	signer, other := testKey(t, 1), testKey(t, 2)
	p := tinyPayload()
	sig := mustSign(t, signer, p)
	if err := Verify([]ed25519.PublicKey{pub(other)}, p, sig); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify with another key = %v, want ErrUnknownKey", err)
	}
	if err := Verify(nil, p, sig); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify with no key = %v, want ErrUnknownKey", err)
	}
	// The right key id with another key's signature bytes.
	otherSig := mustSign(t, other, p)
	forged := KeyID(pub(signer)) + otherSig[strings.IndexByte(otherSig, '.'):]
	if err := Verify([]ed25519.PublicKey{pub(signer)}, p, forged); !errors.Is(err, ErrSignatureMismatch) {
		t.Errorf("Verify of another key's signature under our key id = %v, want ErrSignatureMismatch", err)
	}
}

func TestRotation(t *testing.T) {
	old, cur := testKey(t, 1), testKey(t, 2)
	p := tinyPayload()
	trusted := []ed25519.PublicKey{pub(cur), pub(old)}
	for name, k := range map[string]ed25519.PrivateKey{"old": old, "current": cur} {
		if err := Verify(trusted, p, mustSign(t, k, p)); err != nil {
			t.Errorf("signature by the %s key during rotation: %v", name, err)
		}
	}
	// After the rotation the old key is dropped.
	if err := Verify([]ed25519.PublicKey{pub(cur)}, p, mustSign(t, old, p)); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("signature by a retired key = %v, want ErrUnknownKey", err)
	}
}

func TestMalformedSignatures(t *testing.T) {
	k := testKey(t, 1)
	keys := []ed25519.PublicKey{pub(k)}
	p := tinyPayload()
	good := mustSign(t, k, p)
	id, enc, _ := strings.Cut(good, ".")
	if err := Verify(keys, p, ""); !errors.Is(err, ErrSignatureMissing) {
		t.Errorf("empty signature: %v, want ErrSignatureMissing", err)
	}
	// 64 bytes take 86 base64 characters, the last one carrying 4 unused
	// bits: setting one must not give a second spelling of the domainspec.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	alias := alphabet[strings.IndexByte(alphabet, enc[len(enc)-1])^1]
	for name, s := range map[string]string{
		"no dot":          id + enc,
		"upper-case id":   strings.ToUpper(id) + "." + enc,
		"short id":        id[:15] + "." + enc,
		"long id":         id + "0." + enc,
		"two dots":        id + ".." + enc,
		"padded":          id + "." + enc + "==",
		"std base64":      id + "." + strings.NewReplacer("-", "+", "_", "/").Replace(enc) + "+",
		"short signature": id + "." + enc[:85],
		"long signature":  id + "." + enc + "A",
		"not base64":      id + "." + strings.Repeat("!", 86),
		"non-zero tail":   id + "." + enc[:85] + string(alias),
		"trailing space":  good + " ",
		"just a dot":      ".",
	} {
		if err := Verify(keys, p, s); !errors.Is(err, ErrSignatureMalformed) {
			t.Errorf("%s (%q): %v, want ErrSignatureMalformed", name, s, err)
		}
	}
}

func TestInvalidKeys(t *testing.T) {
	p := tinyPayload()
	if _, err := Sign(ed25519.PrivateKey{1, 2, 3}, p); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Sign with a short key: %v", err)
	}
	if _, err := Sign(nil, p); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Sign with a nil key: %v", err)
	}
	k := testKey(t, 1)
	sig := mustSign(t, k, p)
	if err := Verify([]ed25519.PublicKey{pub(k), {1, 2}}, p, sig); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Verify with a short trusted key: %v, want ErrInvalidKey", err)
	}
}

func TestKeyID(t *testing.T) {
	// sha256 of 32 zero bytes is 66687aadf862bd776c8fc18b8e9f8e20...
	if got := KeyID(make(ed25519.PublicKey, ed25519.PublicKeySize)); got != "66687aadf862bd77" {
		t.Errorf("KeyID(zero key) = %s", got)
	}
	if KeyID(pub(testKey(t, 1))) == KeyID(pub(testKey(t, 2))) {
		t.Error("two keys share a key id")
	}
}
