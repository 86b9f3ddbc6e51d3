package domainspec

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// The signed message is a wire contract between the controller and every
// node agent of a cluster, which may run different builds while they are
// upgraded: its layout is spelled out here byte by byte, from the package
// documentation, not from signedMessage.
func TestSignedMessageLayout(t *testing.T) {
	p := Payload{Namespace: "ns", PodName: "pod", VMIUID: "uid", NodeName: "node-a", DomainXML: "<domain/>"}
	var want []byte
	for _, f := range []string{"podvirt.io/domain-signature/v1", "ns", "pod", "uid", "node-a", "<domain/>"} {
		want = binary.BigEndian.AppendUint64(want, uint64(len(f)))
		want = append(want, f...)
	}
	if got := signedMessage(p); !bytes.Equal(got, want) {
		t.Errorf("signed message\n%q\nwant\n%q", got, want)
	}
}

// A known answer: ed25519 is deterministic, so a fixed key and payload
// give one signature. A change here breaks every signature already on a
// launcher Pod (and every node agent not upgraded with the controller).
func TestKnownSignature(t *testing.T) {
	k := testKey(t, 1)
	p := Payload{Namespace: "ns", PodName: "virt-launcher-tiny", VMIUID: "uid-1", NodeName: "node-a", DomainXML: "<domain/>"}
	const want = "34750f98bd59fcfc.YGz1nwRwyOBcvUwoB0TgjmyBeLUPzMgWIn75uay0MbwrTBKLQj-yr8pbDGFhHaYF32GqDTQK8VFhGmB_-F1nDQ"
	if got := mustSign(t, k, p); got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
	if err := Verify([]ed25519.PublicKey{pub(k)}, p, want); err != nil {
		t.Errorf("the known signature does not verify: %v", err)
	}
}

// A signature is good on one node only: the node name is signed like every
// other field, and cannot trade bytes with its neighbours.
func TestNodeNameIsSigned(t *testing.T) {
	k := testKey(t, 1)
	keys := []ed25519.PublicKey{pub(k)}
	p := tinyPayload()
	p.NodeName = "node-a"
	sig := mustSign(t, k, p)
	for _, node := range []string{"node-b", "", "node-a ", "NODE-A"} {
		q := p
		q.NodeName = node
		if err := Verify(keys, q, sig); !errors.Is(err, ErrSignatureMismatch) {
			t.Errorf("signature for node-a checked on node %q: %v, want ErrSignatureMismatch", node, err)
		}
	}
	// Signed for no node (before the Pod was bound), good on none.
	p.NodeName = ""
	unbound := mustSign(t, k, p)
	p.NodeName = "node-a"
	if err := Verify(keys, p, unbound); !errors.Is(err, ErrSignatureMismatch) {
		t.Errorf("a signature made for no node verified on node-a: %v", err)
	}
	for i, pair := range [][2]Payload{
		{{VMIUID: "u", NodeName: "n"}, {VMIUID: "un", NodeName: ""}},
		{{VMIUID: "", NodeName: "n"}, {VMIUID: "n", NodeName: ""}},
		{{NodeName: "n<", DomainXML: "d/>"}, {NodeName: "n", DomainXML: "<d/>"}},
		{{NodeName: "", DomainXML: "x"}, {NodeName: "x", DomainXML: ""}},
	} {
		if err := Verify(keys, pair[1], mustSign(t, k, pair[0])); !errors.Is(err, ErrSignatureMismatch) {
			t.Errorf("pair %d: signature of %+v verified for %+v: %v", i, pair[0], pair[1], err)
		}
	}
}

// Every field is covered: changing any one of them alone, to any other
// value, fails the signature.
func TestEveryFieldIsSigned(t *testing.T) {
	k := testKey(t, 1)
	keys := []ed25519.PublicKey{pub(k)}
	p := Payload{Namespace: "ns", PodName: "pod", VMIUID: "uid", NodeName: "node", DomainXML: "<domain/>"}
	sig := mustSign(t, k, p)
	fields := []*string{&p.Namespace, &p.PodName, &p.VMIUID, &p.NodeName, &p.DomainXML}
	for i, f := range fields {
		for _, v := range []string{"", "x", *f + *f} {
			old := *f
			*f = v
			if err := Verify(keys, p, sig); !errors.Is(err, ErrSignatureMismatch) {
				t.Errorf("field %d changed from %q to %q: %v", i, old, v, err)
			}
			*f = old
		}
	}
	if err := Verify(keys, p, sig); err != nil {
		t.Fatalf("unchanged payload: %v", err)
	}
}

// Key ids are exactly 16 lower-case hex digits: every digit and letter a-f
// is one, the characters around them in ASCII are not.
func TestKeyIDAlphabet(t *testing.T) {
	k := testKey(t, 1)
	keys := []ed25519.PublicKey{pub(k)}
	p := tinyPayload()
	_, enc, _ := strings.Cut(mustSign(t, k, p), ".")
	for _, id := range []string{"0123456789abcdef", "fedcba9876543210", "0000000000000000", "ffffffffffffffff", "99999999aaaaaaaa"} {
		if err := Verify(keys, p, id+"."+enc); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("key id %s: %v, want ErrUnknownKey (well-formed, not trusted)", id, err)
		}
	}
	for _, c := range []string{"/", ":", "`", "g", "A", "F", "G", " ", "\x00", "\xff"} {
		id := "0123456789abcde" + c
		if err := Verify(keys, p, id+"."+enc); !errors.Is(err, ErrSignatureMalformed) {
			t.Errorf("key id %q: %v, want ErrSignatureMalformed", id, err)
		}
		id = c + "123456789abcdef"
		if err := Verify(keys, p, id+"."+enc); !errors.Is(err, ErrSignatureMalformed) {
			t.Errorf("key id %q: %v, want ErrSignatureMalformed", id, err)
		}
	}
}

// Errors say what a well-formed signature looks like, so whoever reads a
// refusal on a VMI can tell a truncated annotation from a forged one.
func TestMalformedSignatureErrorsSayWhatIsWanted(t *testing.T) {
	k := testKey(t, 1)
	keys := []ed25519.PublicKey{pub(k)}
	p := tinyPayload()
	good := mustSign(t, k, p)
	id, enc, _ := strings.Cut(good, ".")
	for s, want := range map[string]string{
		id[:4] + "." + enc:      "16 lower-case hex digits",
		id + "." + enc[:10]:     "signature is 10 characters, want 86",
		id + "." + enc + "AAAA": "signature is 90 characters, want 86",
	} {
		err := Verify(keys, p, s)
		if !errors.Is(err, ErrSignatureMalformed) || !strings.Contains(err.Error(), want) {
			t.Errorf("Verify(%q) = %v, want ErrSignatureMalformed saying %q", s, err, want)
		}
	}
	// A mismatch names the Pod and VMI it was checked for.
	q := p
	q.PodName = "virt-launcher-other"
	err := Verify(keys, q, good)
	if !errors.Is(err, ErrSignatureMismatch) || !strings.Contains(err.Error(), "default/virt-launcher-other") || !strings.Contains(err.Error(), p.VMIUID) {
		t.Errorf("mismatch error %v does not name the Pod and VMI", err)
	}
}

// A trusted key list with a duplicate, or two keys of which a later one
// made the signature, still verifies; a key id shared by a key that did
// not sign does not hide the one that did.
func TestVerifyTriesEveryKeyWithTheID(t *testing.T) {
	a, b := testKey(t, 1), testKey(t, 2)
	p := tinyPayload()
	sig := mustSign(t, b, p)
	for name, keys := range map[string][]ed25519.PublicKey{
		"second":    {pub(a), pub(b)},
		"duplicate": {pub(b), pub(b)},
		"last":      {pub(a), pub(a), pub(b)},
	} {
		if err := Verify(keys, p, sig); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The key id of a with b's signature bytes: a is tried and fails.
	forged := KeyID(pub(a)) + sig[strings.IndexByte(sig, '.'):]
	if err := Verify([]ed25519.PublicKey{pub(b), pub(a)}, p, forged); !errors.Is(err, ErrSignatureMismatch) {
		t.Errorf("b's signature under a's key id: %v, want ErrSignatureMismatch", err)
	}
	// A short key anywhere in the list is refused before anything else.
	if err := Verify([]ed25519.PublicKey{{1}, pub(b)}, p, sig); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("short first key: %v, want ErrInvalidKey", err)
	}
	if err := Verify([]ed25519.PublicKey{pub(b), make(ed25519.PublicKey, ed25519.PublicKeySize+1)}, p, ""); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("long key with no signature: %v, want ErrInvalidKey", err)
	}
}

func TestSignRefusesWrongSizedKeys(t *testing.T) {
	k := testKey(t, 1)
	for _, key := range []ed25519.PrivateKey{k[:ed25519.PrivateKeySize-1], append(append(ed25519.PrivateKey{}, k...), 0), k[:ed25519.SeedSize]} {
		if sig, err := Sign(key, tinyPayload()); !errors.Is(err, ErrInvalidKey) || sig != "" {
			t.Errorf("Sign with a %d-byte key = %q, %v; want ErrInvalidKey", len(key), sig, err)
		}
	}
}
