package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gomodules.xyz/jsonpatch/v2"
)

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
