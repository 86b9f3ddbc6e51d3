package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixedRecord is a record whose sealed line has the same length for seq 1
// to 9: every field but the chain's is fixed.
func fixedRecord() Record {
	r := decisionRecord(1)
	r.Time, r.Replica = testEpoch, "ctl-0"
	return r
}

// lineLen is the length, newline included, of the line of rec sealed as
// seq 1.
func lineLen(t *testing.T, rec Record) int64 {
	t.Helper()
	_, line := sealForTest(t, rec, 1, GenesisHash)
	return int64(len(line)) + 1
}

func chainFileNames(t *testing.T, dir, replica string) []string {
	t.Helper()
	files, err := chainFiles(dir, replica)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.name)
	}
	return names
}

func lineCounts(t *testing.T, dir string, names []string) []int {
	t.Helper()
	var n []int
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		n = append(n, bytes.Count(data, []byte("\n")))
	}
	return n
}

// TestRotationAtExactlyMaxFileBytes: a file may grow to exactly
// MaxFileBytes; the line that would take it past starts the next file.
func TestRotationAtExactlyMaxFileBytes(t *testing.T) {
	dir := t.TempDir()
	l := lineLen(t, fixedRecord())
	w := openTestWriter(t, dir, "ctl-0", func(o *Options) { o.MaxFileBytes = 2 * l })
	for range 5 {
		if _, err := w.Append(context.Background(), fixedRecord()); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	names := chainFileNames(t, dir, "ctl-0")
	if got := lineCounts(t, dir, names); len(got) != 3 || got[0] != 2 || got[1] != 2 || got[2] != 1 {
		t.Fatalf("lines per file %v, want [2 2 1] with files of exactly %d bytes", got, 2*l)
	}
	info, err := os.Stat(filepath.Join(dir, names[0]))
	if err != nil || info.Size() != 2*l {
		t.Fatalf("first file: %v, %v; want %d bytes", info, err, 2*l)
	}
	if sum := mustVerify(t, dir, "ctl-0"); sum.Records != 5 {
		t.Errorf("verified %d records, want 5", sum.Records)
	}
}

// TestALineLongerThanMaxFileBytesGetsAFileOfItsOwn: the first line of a
// file is written there even when it alone exceeds MaxFileBytes.
func TestALineLongerThanMaxFileBytesGetsAFileOfItsOwn(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, "ctl-0", func(o *Options) { o.MaxFileBytes = 10 })
	appendRecords(t, w, 0, 3)
	w.Close()
	names := chainFileNames(t, dir, "ctl-0")
	if got := lineCounts(t, dir, names); len(got) != 3 || got[0] != 1 || got[1] != 1 || got[2] != 1 {
		t.Fatalf("files %v hold %v lines, want one line in each of 3", names, got)
	}
	if names[0] != FileName("ctl-0", 1) {
		t.Errorf("first file %s, want %s", names[0], FileName("ctl-0", 1))
	}
}

// TestZeroOrNegativeMaxFileBytesMeansTheDefault: 0 and negative sizes do
// not rotate after every line.
func TestZeroOrNegativeMaxFileBytesMeansTheDefault(t *testing.T) {
	for _, size := range []int64{0, -1} {
		dir := t.TempDir()
		w := openTestWriter(t, dir, "ctl-0", func(o *Options) { o.MaxFileBytes, o.MaxBatch = size, int(size) })
		appendRecords(t, w, 0, 4)
		w.Close()
		if names := chainFileNames(t, dir, "ctl-0"); len(names) != 1 {
			t.Errorf("MaxFileBytes %d: files %v, want one", size, names)
		}
	}
}

// padTo returns fixedRecord with a Message making its sealed line (newline
// excluded) exactly n bytes long.
func padTo(t *testing.T, n int) Record {
	t.Helper()
	rec := fixedRecord()
	rec.Message = "x"
	base := lineLen(t, rec) - 1
	rec.Message = strings.Repeat("x", 1+n-int(base))
	if got := lineLen(t, rec) - 1; got != int64(n) {
		t.Fatalf("padded line is %d bytes, want %d", got, n)
	}
	return rec
}

// TestLineOfExactlyMaxLineBytes: the longest line allowed is written, read
// back, verified and resumed from; one byte more is refused.
func TestLineOfExactlyMaxLineBytes(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, "ctl-0", nil)
	big := padTo(t, MaxLineBytes)
	sealed, err := w.Append(context.Background(), big)
	if err != nil {
		t.Fatalf("Append of a %d-byte line: %v", MaxLineBytes, err)
	}
	tooBig := big
	tooBig.Message += "x"
	if _, err := w.Append(context.Background(), tooBig); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("Append of a %d-byte line = %v, want ErrRecordTooLarge", MaxLineBytes+1, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := fileLines(t, dir, FileName("ctl-0", 1))
	if len(lines) != 2 || len(lines[0]) != MaxLineBytes+1 || len(lines[1]) != 0 {
		t.Fatalf("file lines: %d, first %d bytes; want one line of %d bytes", len(lines), len(lines[0]), MaxLineBytes+1)
	}
	if rec, err := ParseLine(bytes.TrimSuffix(lines[0], []byte("\n"))); err != nil || rec.Hash != sealed.Hash {
		t.Fatalf("ParseLine: %v", err)
	}
	if sum := mustVerify(t, dir, "ctl-0"); sum.Records != 1 || sum.Head != sealed.Hash {
		t.Fatalf("summary %+v", sum)
	}
	recs, errs := collect(t, Read(context.Background(), dir, Filter{}))
	if len(recs) != 1 || len(errs) != 0 {
		t.Fatalf("Read: %d records, errors %v", len(recs), errs)
	}
	// Open resumes after the big line.
	w = openTestWriter(t, dir, "ctl-0", nil)
	rec, err := w.Append(context.Background(), fixedRecord())
	w.Close()
	if err != nil || rec.Seq != 2 || rec.Prev != sealed.Hash {
		t.Fatalf("Append after reopening: %+v, %v; want seq 2 after the big line", rec, err)
	}
	mustVerify(t, dir, "ctl-0")
}

// TestALineOneByteTooLongIsUnparsable: a line of MaxLineBytes+1 bytes
// is skipped by readers and breaks the chain as unparsable.
func TestALineOneByteTooLongIsUnparsable(t *testing.T) {
	_, line := sealForTest(t, padTo(t, MaxLineBytes+1), 1, GenesisHash)
	if _, err := ParseLine(line); !errors.Is(err, ErrUnparsable) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("ParseLine = %v, want unparsable: too long", err)
	}
	dir := t.TempDir()
	writeLines(t, dir, FileName("ctl-0", 1), [][]byte{line, []byte("\n")})
	_, err := VerifyChain(context.Background(), dir, "ctl-0")
	var brk *Break
	if !errors.As(err, &brk) || brk.Reason != ReasonUnparsable || brk.Line != 1 {
		t.Fatalf("VerifyChain = %v, want unparsable at line 1", err)
	}
	recs, errs := collect(t, Read(context.Background(), dir, Filter{}))
	if len(recs) != 0 || len(errs) != 1 {
		t.Fatalf("Read: %d records, errors %v; want one line error", len(recs), errs)
	}
}

// TestParseLineHashDigits: the stored hash must be lowercase hex; the
// bytes just outside 0-9 and a-f are not.
func TestParseLineHashDigits(t *testing.T) {
	_, good := sealForTest(t, fixedRecord(), 1, GenesisHash)
	if _, err := ParseLine(good); err != nil {
		t.Fatal(err)
	}
	at := len(good) - 3 // the hash's last digit
	for _, c := range []byte{'/', ':', '`', 'g', 'F'} {
		line := append([]byte{}, good...)
		line[at] = c
		if _, err := ParseLine(line); !errors.Is(err, ErrUnparsable) {
			t.Errorf("hash digit %q: %v, want unparsable", c, err)
		}
	}
	for _, c := range []byte("09af") {
		line := append([]byte{}, good...)
		if line[at] == c {
			continue
		}
		line[at] = c
		if _, err := ParseLine(line); !errors.Is(err, ErrHashMismatch) {
			t.Errorf("hash digit %q: %v, want a hash mismatch (a well-formed, wrong hash)", c, err)
		}
	}
}

// TestParseLinePrevDigits: prev must be 64 lowercase hex digits.
func TestParseLinePrevDigits(t *testing.T) {
	for _, prev := range []string{strings.Repeat("9", 64), strings.Repeat("a", 64), strings.Repeat("f", 64), GenesisHash} {
		_, line := sealForTest(t, fixedRecord(), 1, prev)
		if _, err := ParseLine(line); err != nil {
			t.Errorf("prev %s: %v", prev[:4], err)
		}
	}
	for _, prev := range []string{strings.Repeat("g", 64), strings.Repeat("0", 63), strings.Repeat("0", 65), strings.Repeat("A", 64), ""} {
		_, line := sealForTest(t, fixedRecord(), 1, prev)
		if _, err := ParseLine(line); !errors.Is(err, ErrUnparsable) {
			t.Errorf("prev %q: %v, want unparsable", prev, err)
		}
	}
	rec := fixedRecord()
	rec.Replica = ""
	line := sealLineWithReplica(t, rec)
	if _, err := ParseLine(line); !errors.Is(err, ErrUnparsable) {
		t.Errorf("no replica: %v, want unparsable", err)
	}
}

// sealLineWithReplica seals rec as seq 1 keeping its Replica as is.
func sealLineWithReplica(t *testing.T, rec Record) []byte {
	t.Helper()
	rec.Version, rec.Seq, rec.Prev = SchemaVersion, 1, GenesisHash
	body, err := encodeBody(rec)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(appendSealedLine(nil, body, hashBody(body)), []byte("\n"))
}

func TestParseLineShortLines(t *testing.T) {
	for _, n := range []int{0, 1, hashSuffixLen, hashSuffixLen + 1} {
		line := append([]byte("{"), bytes.Repeat([]byte(" "), max(n-1, 0))...)
		if n == 0 {
			line = nil
		}
		if _, err := ParseLine(line); !errors.Is(err, ErrUnparsable) || !strings.Contains(err.Error(), "not a record line") {
			t.Errorf("%d bytes: %v, want not a record line", n, err)
		}
	}
}
