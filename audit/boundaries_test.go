package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gomodules.xyz/jsonpatch/v2"
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

func TestFilterTimeBounds(t *testing.T) {
	t0 := testEpoch
	f := Filter{Since: t0, Until: t0.Add(time.Second)}
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{t0.Add(-time.Nanosecond), false},
		{t0, true},
		{t0.Add(time.Second - time.Nanosecond), true},
		{t0.Add(time.Second), false},
	} {
		if got := f.Matches(Record{Time: tc.at}); got != tc.want {
			t.Errorf("Matches(%v) = %v, want %v ([Since, Until) is half-open)", tc.at, got, tc.want)
		}
	}
}

func TestFilterFields(t *testing.T) {
	rec := decisionRecord(1)
	cases := []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{Namespace: "team-a"}, true},
		{Filter{Namespace: "team-b"}, false},
		{Filter{User: "alice"}, true},
		{Filter{User: "bob"}, false},
		{Filter{Webhook: WebhookValidateVMI}, true},
		{Filter{Webhook: WebhookPodGuard}, false},
		{Filter{Decisions: []Decision{DecisionDenied, DecisionAllowed}}, true},
		{Filter{Decisions: []Decision{DecisionDenied}}, false},
		{Filter{Policy: "require-limits"}, true},
		{Filter{Policy: "other"}, false},
		{Filter{Policy: "require-limits", User: "bob"}, false},
	}
	for _, tc := range cases {
		if got := tc.f.Matches(rec); got != tc.want {
			t.Errorf("%+v.Matches = %v, want %v", tc.f, got, tc.want)
		}
	}
}

// TestReadOrdersTiesByReplicaThenSeq: records of the same time come by
// replica name, then by seq.
func TestReadOrdersTiesByReplicaThenSeq(t *testing.T) {
	dir := t.TempDir()
	for _, replica := range []string{"ctl-b", "ctl-a"} {
		w := openTestWriter(t, dir, replica, nil)
		for range 3 {
			if _, err := w.Append(context.Background(), fixedRecord()); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
	}
	want := []string{"ctl-a/1", "ctl-a/2", "ctl-a/3", "ctl-b/1", "ctl-b/2", "ctl-b/3"}
	check := func(what string, recs []Record) {
		t.Helper()
		var got []string
		for _, r := range recs {
			got = append(got, r.Replica+"/"+string(rune('0'+r.Seq)))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	recs, errs := collect(t, Read(context.Background(), dir, Filter{}))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	check("Read", recs)
	recs, errs = collect(t, Last(context.Background(), dir, Filter{}, 6))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	check("Last", recs)
}

func TestReplicas(t *testing.T) {
	dir := t.TempDir()
	for _, r := range []string{"ctl-b", "ctl-a"} {
		w := openTestWriter(t, dir, r, nil)
		appendRecords(t, w, 0, 1)
		w.Close()
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "audit-ctl-z-00000000.jsonl"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := Replicas(dir)
	if err != nil || strings.Join(got, ",") != "ctl-a,ctl-b" {
		t.Fatalf("Replicas = %v, %v; want [ctl-a ctl-b] (file index 0 is no chain file)", got, err)
	}
	if _, err := Replicas(filepath.Join(dir, "missing")); err == nil {
		t.Error("Replicas of a missing directory succeeded")
	}
}

// TestVerifyAnchorsBeyondTheEnd: an anchor at the chain's last seq is no
// break; of several beyond it the break names the nearest.
func TestVerifyAnchorsBeyondTheEnd(t *testing.T) {
	dir, _, sealed := tamperFixture(t)
	last := sealed[len(sealed)-1]
	if _, err := VerifyChain(context.Background(), dir, "ctl-0", Anchor{Replica: "ctl-0", Seq: last.Seq, Hash: last.Hash}); err != nil {
		t.Fatalf("anchor at the last seq: %v", err)
	}
	far := Anchor{Replica: "ctl-0", Seq: last.Seq + 5, Hash: strings.Repeat("a", 64)}
	near := Anchor{Replica: "ctl-0", Seq: last.Seq + 1, Hash: strings.Repeat("b", 64)}
	farther := Anchor{Replica: "ctl-0", Seq: last.Seq + 9, Hash: strings.Repeat("c", 64)}
	_, err := VerifyChain(context.Background(), dir, "ctl-0", far, near, farther)
	var brk *Break
	if !errors.As(err, &brk) || brk.Reason != ReasonAnchorMismatch || !strings.Contains(brk.Detail, near.Hash) {
		t.Fatalf("VerifyChain = %v, want the break to name the nearest anchor (seq %d)", err, near.Seq)
	}
	if brk.Seq != last.Seq+1 || brk.Error() == "" {
		t.Errorf("break %+v, want seq %d", brk, last.Seq+1)
	}
	// Another replica's anchors are not this chain's.
	other := Anchor{Replica: "ctl-1", Seq: 3, Hash: strings.Repeat("d", 64)}
	if _, err := VerifyChain(context.Background(), dir, "ctl-0", other); err != nil {
		t.Fatalf("another replica's anchor: %v", err)
	}
}

func TestVerifyStopsOnACanceledContext(t *testing.T) {
	dir, _, _ := tamperFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := VerifyChain(ctx, dir, "ctl-0"); !errors.Is(err, context.Canceled) {
		t.Fatalf("VerifyChain = %v, want context.Canceled", err)
	}
}

func TestVerifySummary(t *testing.T) {
	dir, files, sealed := tamperFixture(t)
	sum := mustVerify(t, dir, "ctl-0")
	last := sealed[len(sealed)-1]
	if sum.Records != uint64(len(sealed)) || sum.LastSeq != last.Seq || sum.Head != last.Hash || len(sum.Files) != len(files) || sum.TornTail {
		t.Fatalf("summary %+v, want %d records up to %s", sum, len(sealed), last.Hash)
	}
}

// TestAuditAnnotationsNeedBothSeqAndHash: a record is an anchor only once
// sealed: a seq of 0 or an empty hash gives no record annotation.
func TestAuditAnnotationsNeedBothSeqAndHash(t *testing.T) {
	for _, rec := range []Record{
		{Decision: DecisionAllowed, Replica: "ctl-0", Seq: 0, Hash: strings.Repeat("7", 64)},
		{Decision: DecisionAllowed, Replica: "ctl-0", Seq: 3},
	} {
		if ann := AuditAnnotations(rec); len(ann) != 1 || ann[AnnotationDecision] != "allowed" {
			t.Errorf("AuditAnnotations(seq %d, hash %q) = %v, want the decision only", rec.Seq, rec.Hash, ann)
		}
	}
	ann := AuditAnnotations(Record{Decision: DecisionAllowed, Replica: "ctl-0", Seq: 1, Hash: GenesisHash})
	if ann[AnnotationRecord] != "ctl-0:1:"+GenesisHash {
		t.Errorf("record annotation %q", ann[AnnotationRecord])
	}
}

// TestSummarizePatchAtMaxPatchPaths: exactly MaxPatchPaths operations are
// all listed; a single one too.
func TestSummarizePatchAtMaxPatchPaths(t *testing.T) {
	var ops []jsonpatch.Operation
	for range MaxPatchPaths {
		ops = append(ops, jsonpatch.Operation{Operation: "add", Path: "/a"})
	}
	if sum := SummarizePatch(ops); sum.Ops != MaxPatchPaths || len(sum.Paths) != MaxPatchPaths {
		t.Errorf("summary of %d ops: %+v", MaxPatchPaths, sum)
	}
	if sum := SummarizePatch(ops[:1]); sum.Ops != 1 || len(sum.Paths) != 1 || sum.Paths[0] != "add /a" {
		t.Errorf("summary of one op: %+v", sum)
	}
}

// TestFilesAreOrderedByIndexNotName: past index 99999999 file names no
// longer sort in chain order; readers and Open go by the parsed index.
func TestFilesAreOrderedByIndexNotName(t *testing.T) {
	dir := t.TempDir()
	first, line1 := sealForTest(t, fixedRecord(), 1, GenesisHash)
	second, line2 := sealForTest(t, fixedRecord(), 2, first.Hash)
	writeLines(t, dir, FileName("ctl-0", 99999999), [][]byte{line1, []byte("\n")})
	writeLines(t, dir, FileName("ctl-0", 100000000), [][]byte{line2, []byte("\n")})
	recs, errs := collect(t, Read(context.Background(), dir, Filter{}))
	if len(errs) != 0 || len(recs) != 2 || recs[0].Seq != 1 || recs[1].Seq != 2 {
		t.Fatalf("Read: %v %v, want seq 1 then 2", recs, errs)
	}
	w := openTestWriter(t, dir, "ctl-0", nil)
	rec, err := w.Append(context.Background(), fixedRecord())
	w.Close()
	if err != nil || rec.Seq != 3 || rec.Prev != second.Hash {
		t.Fatalf("Append after reopening: seq %d prev %s, %v; want seq 3 after %s", rec.Seq, rec.Prev, err, second.Hash)
	}
	if lines := fileLines(t, dir, FileName("ctl-0", 100000000)); len(lines) != 3 {
		t.Errorf("the newest file has %d lines, want 2 and the final empty split", len(lines)-1)
	}
}

// TestReopenAFileLargerThanOneReadChunk: Open finds the last line of a
// file longer than the 64 KiB it reads backwards at a time.
func TestReopenAFileLargerThanOneReadChunk(t *testing.T) {
	dir := t.TempDir()
	noSync := func(o *Options) { o.SyncFile = func(*os.File) error { return nil } }
	w := openTestWriter(t, dir, "ctl-0", noSync)
	rec := fixedRecord()
	rec.Message = strings.Repeat("m", 1000)
	var last Record
	for range 80 { // about 80 KiB
		var err error
		if last, err = w.Append(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if info, err := os.Stat(filepath.Join(dir, FileName("ctl-0", 1))); err != nil || info.Size() <= 64<<10 {
		t.Fatalf("fixture file: %v %v, want more than 64 KiB", info, err)
	}
	w = openTestWriter(t, dir, "ctl-0", noSync)
	next, err := w.Append(context.Background(), fixedRecord())
	w.Close()
	if err != nil || next.Seq != last.Seq+1 || next.Prev != last.Hash {
		t.Fatalf("Append after reopening: seq %d, %v; want %d after the last line", next.Seq, err, last.Seq+1)
	}
	if sum := mustVerify(t, dir, "ctl-0"); sum.Records != 81 {
		t.Errorf("verified %d records, want 81", sum.Records)
	}
}

// TestReopenWhenTheLastLineStartsAtAReadChunk: Open reads a file backwards
// 64 KiB at a time; the newline before the last line can be the first byte
// of such a chunk.
func TestReopenWhenTheLastLineStartsAtAReadChunk(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, "ctl-0", nil)
	appendRecords(t, w, 0, 1)
	last, err := w.Append(context.Background(), padTo(t, 64<<10-2)) // 64 KiB - 1 with its newline
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	w = openTestWriter(t, dir, "ctl-0", nil)
	next, err := w.Append(context.Background(), fixedRecord())
	w.Close()
	if err != nil || next.Seq != 3 || next.Prev != last.Hash {
		t.Fatalf("Append after reopening: seq %d, %v; want 3 after the long line", next.Seq, err)
	}
	mustVerify(t, dir, "ctl-0")
}

// TestFollowWithoutAPollInterval: a zero PollInterval means the default,
// not a ticker of no period.
func TestFollowWithoutAPollInterval(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, "ctl-0", nil)
	appendRecords(t, w, 0, 2)
	w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	var got []uint64
	for rec, err := range Follow(ctx, dir, FollowOptions{Last: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.Seq)
	}
	if len(got) != 1 || got[0] != 2 {
		t.Errorf("Follow yielded seqs %v, want [2]", got)
	}
}
