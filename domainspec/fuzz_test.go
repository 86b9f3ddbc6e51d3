package domainspec

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

// FuzzVerify feeds arbitrary signature text and payloads to Verify: it must
// never panic, must classify every failure, and must accept nothing but the
// signature Sign makes for exactly that payload.
func FuzzVerify(f *testing.F) {
	k := testKey(f, 1)
	p := tinyPayload()
	good, err := Sign(k, p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, p.Namespace, p.PodName, p.VMIUID, p.DomainXML)
	f.Add("", "", "", "", "")
	f.Add(".", "a", "bc", "", "")
	f.Add(good[:17]+"AAAA", p.Namespace, p.PodName, p.VMIUID, p.DomainXML)
	signers := []ed25519.PrivateKey{k, testKey(f, 2)}
	keys := []ed25519.PublicKey{pub(signers[0]), pub(signers[1])}
	f.Fuzz(func(t *testing.T, sig, ns, podName, uid, xml string) {
		q := Payload{Namespace: ns, PodName: podName, VMIUID: uid, DomainXML: xml}
		err := Verify(keys, q, sig)
		if err == nil {
			for _, s := range signers {
				if want, _ := Sign(s, q); sig == want {
					return
				}
			}
			t.Fatalf("accepted %q for %+v, which no trusted key signed", sig, q)
		}
		if !errors.Is(err, ErrSignatureMissing) && !errors.Is(err, ErrSignatureMalformed) &&
			!errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrSignatureMismatch) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}

// FuzzSignVerify checks the round trip, and that the encoding is injective:
// two payloads share an encoding (and so a signature) only when they are
// equal, and any other payload fails verification.
func FuzzSignVerify(f *testing.F) {
	f.Add("default", "virt-launcher-tiny", "6f1d2c1e", "<domain/>", "default", "virt-launcher-tiny", "6f1d2c1e", "<domain/>")
	f.Add("a", "bc", "", "", "ab", "c", "", "")
	f.Add("", "", "", "", "", "", "", "")
	f.Add("x", "", "", "\x00", "", "x", "\x00", "")
	// The same payload for two nodes, and a node name sharing bytes with the UID.
	f.Add("ns", "pod", "u/node-a", "<domain/>", "ns", "pod", "u/node-b", "<domain/>")
	f.Add("ns", "pod", "u/n", "<domain/>", "ns", "pod", "un/", "<domain/>")
	k := testKey(f, 1)
	keys := []ed25519.PublicKey{pub(k)}
	f.Fuzz(func(t *testing.T, ns1, pod1, uid1, xml1, ns2, pod2, uid2, xml2 string) {
		// The UID argument carries "<uid>/<node>", so the node is fuzzed
		// too while the seed corpus keeps its eight arguments.
		uidA, nodeA, _ := strings.Cut(uid1, "/")
		uidB, nodeB, _ := strings.Cut(uid2, "/")
		p := Payload{Namespace: ns1, PodName: pod1, VMIUID: uidA, NodeName: nodeA, DomainXML: xml1}
		q := Payload{Namespace: ns2, PodName: pod2, VMIUID: uidB, NodeName: nodeB, DomainXML: xml2}
		sig, err := Sign(k, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(keys, p, sig); err != nil {
			t.Fatalf("round trip of %+v: %v", p, err)
		}
		if bytes.Equal(signedMessage(p), signedMessage(q)) != (p == q) {
			t.Fatalf("%+v and %+v: encodings equal %v, payloads equal %v", p, q, !(p == q), p == q)
		}
		if err := Verify(keys, q, sig); (err == nil) != (p == q) {
			t.Fatalf("signature of %+v checked against %+v: %v", p, q, err)
		}
	})
}
