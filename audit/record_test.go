package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// sealForTest seals rec as the Writer would after prev, with the given seq.
func sealForTest(t testing.TB, rec Record, seq uint64, prev string) (Record, []byte) {
	t.Helper()
	rec.Version, rec.Seq, rec.Prev = SchemaVersion, seq, prev
	if rec.Replica == "" {
		rec.Replica = "podvirt-controller-0"
	}
	if rec.Time.IsZero() {
		rec.Time = testEpoch
	}
	body, err := encodeBody(rec)
	if err != nil {
		t.Fatal(err)
	}
	rec.Hash = hashBody(body)
	line := appendSealedLine(nil, body, rec.Hash)
	return rec, bytes.TrimSuffix(line, []byte("\n"))
}

// TestHashDefinition spells out the documented hash: SHA-256 of the line
// with its final `,"hash":"…"` member removed.
func TestHashDefinition(t *testing.T) {
	rec, line := sealForTest(t, decisionRecord(1), 1, GenesisHash)
	member := regexp.MustCompile(`,"hash":"[0-9a-f]{64}"}$`)
	if !member.Match(line) {
		t.Fatalf("line does not end with its hash member: %s", line)
	}
	covered := member.ReplaceAll(line, []byte("}"))
	sum := sha256.Sum256(covered)
	if got := hex.EncodeToString(sum[:]); got != rec.Hash {
		t.Fatalf("hash %s, sha256 of the line without its hash member is %s", rec.Hash, got)
	}
	if !bytes.HasPrefix(line, []byte(`{"v":1,"seq":1,"time":"2026-03-01T12:00:00Z","replica":"podvirt-controller-0","webhook":"validate-vmi",`)) {
		t.Fatalf("member order changed: %s", line)
	}
	if !bytes.Contains(line, []byte(`"prev":"`+GenesisHash+`","hash":`)) {
		t.Fatalf("prev must come right before hash: %s", line)
	}
}

func TestParseLineRoundTrip(t *testing.T) {
	in := decisionRecord(7)
	in.Message = `denied: <script> & "quotes" ✓`
	in.Patch = &PatchSummary{Ops: 1, Paths: []string{"add /spec/domain/machine"}}
	in.DryRun = true
	sealed, line := sealForTest(t, in, 42, strings.Repeat("ab", 32))
	if !bytes.Contains(line, []byte("<script> & ")) {
		t.Errorf("HTML characters should be written as they are: %s", line)
	}
	got, err := ParseLine(line)
	if err != nil {
		t.Fatalf("ParseLine: %v", err)
	}
	if !got.Time.Equal(sealed.Time) {
		t.Fatalf("time %v, want %v", got.Time, sealed.Time)
	}
	got.Time = sealed.Time
	gotBody, _ := encodeBody(got)
	wantBody, _ := encodeBody(sealed)
	if !bytes.Equal(gotBody, wantBody) || got.Hash != sealed.Hash {
		t.Fatalf("round trip changed the record:\n got %s %s\nwant %s %s", gotBody, got.Hash, wantBody, sealed.Hash)
	}
}

func TestParseLineRejects(t *testing.T) {
	_, good := sealForTest(t, decisionRecord(1), 1, GenesisHash)
	edit := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("%q not in %s", old, good)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	reseal := func(line []byte) []byte { // recompute the hash of an edited line
		body := append(append([]byte{}, line[:len(line)-hashSuffixLen]...), '}')
		return bytes.TrimSuffix(appendSealedLine(nil, body, hashBody(body)), []byte("\n"))
	}
	cases := []struct {
		name string
		line []byte
		want error
	}{
		{"empty", nil, ErrUnparsable},
		{"not json", []byte("hello"), ErrUnparsable},
		{"torn", good[:len(good)/2], ErrUnparsable},
		{"trailing space", append(append([]byte{}, good...), ' '), ErrUnparsable},
		{"uppercase hash", bytes.ToUpper(good), ErrUnparsable},
		{"edited body", edit(`"user":"alice"`, `"user":"mallory"`), ErrHashMismatch},
		{"edited hash", flipHashDigit(good), ErrHashMismatch},
		{"version 2", reseal(edit(`"v":1`, `"v":2`)), ErrUnparsable},
		{"seq 0", reseal(edit(`"seq":1,`, `"seq":0,`)), ErrUnparsable},
		{"unknown decision", reseal(edit(`"decision":"allowed"`, `"decision":"maybe"`)), ErrUnparsable},
		{"short prev", reseal(edit(`"prev":"00`, `"prev":"`)), ErrUnparsable},
		{"second hash member", reseal(edit(`"v":1,`, `"v":1,"hash":"x",`)), ErrUnparsable},
		{"body not json", reseal(edit(`"user":"alice"`, `"user":alice`)), ErrUnparsable},
		{"too long", bytes.Repeat([]byte("x"), MaxLineBytes+1), ErrUnparsable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := append([]byte{}, tc.line...)
			_, err := ParseLine(tc.line)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseLine(%q) = %v, want %v", truncate(tc.line), err, tc.want)
			}
			if !bytes.Equal(before, tc.line) {
				t.Fatal("ParseLine modified its input")
			}
		})
	}
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

// flipHashDigit changes the last digit of a line's hash.
func flipHashDigit(line []byte) []byte {
	out := append([]byte{}, line...)
	i := len(out) - 3
	if out[i] == '0' {
		out[i] = '1'
	} else {
		out[i] = '0'
	}
	return out
}
