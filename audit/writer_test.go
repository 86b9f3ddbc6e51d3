package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
)

func TestAppendSealsAChain(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, "ctl-0", nil)
	sealed := appendRecords(t, w, 0, 3)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	prev := GenesisHash
	for i, rec := range sealed {
		if rec.Seq != uint64(i+1) || rec.Prev != prev || rec.Replica != "ctl-0" || rec.Version != 1 || rec.Time.IsZero() {
			t.Fatalf("record %d sealed as seq=%d prev=%s replica=%s v=%d time=%v", i, rec.Seq, rec.Prev, rec.Replica, rec.Version, rec.Time)
		}
		prev = rec.Hash
	}
	lines := fileLines(t, dir, FileName("ctl-0", 1))
	for i, line := range lines[:len(lines)-1] {
		got, err := ParseLine(bytes.TrimSuffix(line, []byte("\n")))
		if err != nil || got.Hash != sealed[i].Hash {
			t.Fatalf("line %d: %v (hash %s, Append returned %s)", i+1, err, got.Hash, sealed[i].Hash)
		}
	}
	if sum := mustVerify(t, dir, "ctl-0"); sum.Records != 3 || sum.Head != sealed[2].Hash {
		t.Fatalf("summary %+v", sum)
	}
}

func TestReopenResumesTheChain(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, "ctl-0", nil)
	first := appendRecords(t, w, 0, 2)
	w.Close()
	w = openTestWriter(t, dir, "ctl-0", nil)
	second := appendRecords(t, w, 2, 1)
	w.Close()
	if second[0].Seq != 3 || second[0].Prev != first[1].Hash {
		t.Fatalf("after reopening: seq %d prev %s, want 3 and %s", second[0].Seq, second[0].Prev, first[1].Hash)
	}
	mustVerify(t, dir, "ctl-0")
}

func TestTornLastLineIsCutOnOpen(t *testing.T) {
	for _, torn := range []string{
		`{"v":1,"seq":4,"time":"2026-03-01T12:00:00.004Z","repl`,
		"\x00\x00\x00\x00\x00\x00", // a size extended before the data reached the disk
		`{"v":1`,
	} {
		dir := t.TempDir()
		w := openTestWriter(t, dir, "ctl-0", nil)
		sealed := appendRecords(t, w, 0, 3)
		w.Close()
		path := filepath.Join(dir, FileName("ctl-0", 1))
		intact, _ := os.ReadFile(path)
		if err := os.WriteFile(path, append(append([]byte{}, intact...), torn...), 0o640); err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyChain(context.Background(), dir, "ctl-0"); err != nil {
			t.Fatalf("a torn last line must not break verification before recovery: %v", err)
		}

		var logged []string
		logger := funcr.New(func(prefix, args string) { logged = append(logged, args) }, funcr.Options{})
		w = openTestWriter(t, dir, "ctl-0", func(o *Options) { o.Log = logger })
		if now, _ := os.ReadFile(path); !bytes.Equal(now, intact) {
			t.Fatalf("Open left %q after the last complete line", now[len(intact):])
		}
		if len(logged) != 1 || !strings.Contains(logged[0], "torn last line") || !strings.Contains(logged[0], `"bytes"=`) {
			t.Fatalf("Open should log the cut once, logged %q", logged)
		}
		next := appendRecords(t, w, 3, 1)[0]
		w.Close()
		if next.Seq != 4 || next.Prev != sealed[2].Hash {
			t.Fatalf("chain resumed at seq %d prev %s, want 4 after %s", next.Seq, next.Prev, sealed[2].Hash)
		}
		if sum := mustVerify(t, dir, "ctl-0"); sum.Records != 4 || sum.TornTail {
			t.Fatalf("summary %+v", sum)
		}
	}
}

func TestOpenAfterACrashRightAfterRotation(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, "ctl-0", nil)
	sealed := appendRecords(t, w, 0, 2)
	w.Close()
	// The crash left the next file created but empty.
	if err := os.WriteFile(filepath.Join(dir, FileName("ctl-0", 2)), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	w = openTestWriter(t, dir, "ctl-0", nil)
	next := appendRecords(t, w, 2, 1)[0]
	w.Close()
	if next.Seq != 3 || next.Prev != sealed[1].Hash {
		t.Fatalf("chain resumed at seq %d prev %s", next.Seq, next.Prev)
	}
	if sum := mustVerify(t, dir, "ctl-0"); len(sum.Files) != 2 || sum.Records != 3 {
		t.Fatalf("summary %+v", sum)
	}
}

func TestOpenRefusesADamagedLastLine(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, "ctl-0", nil)
	appendRecords(t, w, 0, 3)
	w.Close()
	name := FileName("ctl-0", 1)
	lines := fileLines(t, dir, name)
	lines[2] = bytes.Replace(lines[2], []byte("alice"), []byte("alicf"), 1)
	writeLines(t, dir, name, lines)
	_, err := Open(context.Background(), Options{Dir: dir, Replica: "ctl-0"})
	if !errors.Is(err, ErrCorruptTail) || !errors.Is(err, ErrHashMismatch) || !strings.Contains(err.Error(), name) {
		t.Fatalf("Open = %v, want ErrCorruptTail naming %s", err, name)
	}
	if got := fileLines(t, dir, name); !bytes.Equal(got[2], lines[2]) {
		t.Fatal("Open must not cut a complete line: that would destroy evidence")
	}
}

func TestRotationContinuesTheChain(t *testing.T) {
	dir := t.TempDir()
	const maxBytes = 2000
	w := openTestWriter(t, dir, "ctl-0", func(o *Options) { o.MaxFileBytes = maxBytes })
	sealed := appendRecords(t, w, 0, 20)
	w.Close()
	sum := mustVerify(t, dir, "ctl-0")
	if len(sum.Files) < 4 || sum.Records != 20 {
		t.Fatalf("20 records of ~600 bytes in %d-byte files: summary %+v", maxBytes, sum)
	}
	for i, name := range sum.Files {
		if name != FileName("ctl-0", i+1) {
			t.Fatalf("file %d is %s", i+1, name)
		}
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > maxBytes {
			t.Fatalf("%s is %d bytes, over %d", name, info.Size(), maxBytes)
		}
		if i == 0 {
			continue
		}
		// The first line of each file chains to the last of the previous.
		prevLines := fileLines(t, dir, sum.Files[i-1])
		last, _ := ParseLine(bytes.TrimSuffix(prevLines[len(prevLines)-2], []byte("\n")))
		first, _ := ParseLine(bytes.TrimSuffix(fileLines(t, dir, name)[0], []byte("\n")))
		if first.Prev != last.Hash || first.Seq != last.Seq+1 {
			t.Fatalf("%s starts at seq %d prev %s, previous file ends at seq %d hash %s", name, first.Seq, first.Prev, last.Seq, last.Hash)
		}
	}
	// Reopening appends to the newest file and keeps rotating.
	w = openTestWriter(t, dir, "ctl-0", func(o *Options) { o.MaxFileBytes = maxBytes })
	more := appendRecords(t, w, 20, 5)
	w.Close()
	if more[0].Prev != sealed[19].Hash {
		t.Fatal("reopened chain does not continue from the newest file")
	}
	if sum := mustVerify(t, dir, "ctl-0"); sum.Records != 25 {
		t.Fatalf("summary %+v", sum)
	}
}

// TestGroupCommit holds the first fsync until every Append is either in its
// batch or queued, so exactly one more fsync must cover all the rest.
func TestGroupCommit(t *testing.T) {
	const appends = 64
	dir := t.TempDir()
	var syncs atomic.Int64
	var w *Writer
	w = openTestWriter(t, dir, "ctl-0", func(o *Options) {
		o.SyncFile = func(f *os.File) error {
			if syncs.Add(1) == 1 {
				deadline := time.Now().Add(10 * time.Second)
				// The hook runs on the committer, which owns pendingReqs.
				for len(w.pendingReqs)+len(w.requests) < appends && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
			}
			return f.Sync()
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, appends)
	seqs := make(chan uint64, appends)
	for i := range appends {
		wg.Go(func() {
			rec, err := w.Append(context.Background(), decisionRecord(i))
			errs <- err
			seqs <- rec.Seq
		})
	}
	wg.Wait()
	close(errs)
	close(seqs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint64]bool{}
	for seq := range seqs {
		seen[seq] = true
	}
	if len(seen) != appends {
		t.Fatalf("%d distinct seqs for %d appends", len(seen), appends)
	}
	w.Close()
	// 2 when the first append's batch is flushed alone (the hook holds its
	// fsync until the rest are queued); 1 when the committer found all of
	// them queued at once (a CI run did): either way no append waited for
	// more than the fsync in progress and one more.
	if got := syncs.Load(); got < 1 || got > 2 {
		t.Fatalf("%d fsyncs for %d concurrent appends, want at most 2 (the first, then one for the rest)", got, appends)
	}
	if sum := mustVerify(t, dir, "ctl-0"); sum.Records != appends {
		t.Fatalf("summary %+v", sum)
	}
}

func TestFailedSyncMakesTheWriterUnusable(t *testing.T) {
	dir := t.TempDir()
	fail := atomic.Bool{}
	opts := func(o *Options) {
		o.SyncFile = func(f *os.File) error {
			if fail.Load() {
				return errors.New("EIO")
			}
			return f.Sync()
		}
	}
	w := openTestWriter(t, dir, "ctl-0", opts)
	appendRecords(t, w, 0, 2)
	fail.Store(true)
	if _, err := w.Append(context.Background(), decisionRecord(2)); err == nil || !strings.Contains(err.Error(), "EIO") {
		t.Fatalf("Append with a failing fsync = %v", err)
	}
	fail.Store(false)
	if _, err := w.Append(context.Background(), decisionRecord(3)); err == nil || w.Err() == nil {
		t.Fatalf("after a failed fsync Append = %v, Err = %v; both must fail until reopened", err, w.Err())
	}
	w.Close()
	// Reopening resumes from what reached the file.
	w = openTestWriter(t, dir, "ctl-0", nil)
	appendRecords(t, w, 4, 1)
	w.Close()
	mustVerify(t, dir, "ctl-0")
}

func TestOneWriterPerChain(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, "ctl-0", nil)
	defer w.Close()
	if _, err := Open(context.Background(), Options{Dir: dir, Replica: "ctl-0"}); !errors.Is(err, ErrChainLocked) {
		t.Fatalf("second Open = %v, want ErrChainLocked", err)
	}
	other := openTestWriter(t, dir, "ctl-1", nil) // another replica's chain is independent
	other.Close()
}

func TestAppendErrors(t *testing.T) {
	w := openTestWriter(t, t.TempDir(), "ctl-0", nil)
	if _, err := w.Append(context.Background(), Record{Decision: DecisionAllowed}); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("no webhook: %v", err)
	}
	if _, err := w.Append(context.Background(), Record{Webhook: "w", Decision: "ok"}); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("bad decision: %v", err)
	}
	huge := decisionRecord(0)
	huge.Message = strings.Repeat("x", MaxLineBytes)
	if _, err := w.Append(context.Background(), huge); !errors.Is(err, ErrRecordTooLarge) {
		t.Errorf("huge record: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.Append(ctx, decisionRecord(0)); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	// A refused record leaves the chain intact.
	rec := appendRecords(t, w, 1, 1)[0]
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(context.Background(), decisionRecord(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if rec.Seq > 2 {
		t.Errorf("refused records consumed seqs: next seq %d", rec.Seq)
	}
}

func TestOpenValidatesOptions(t *testing.T) {
	for _, opts := range []Options{
		{Replica: "ctl-0"},
		{Dir: t.TempDir(), Replica: ""},
		{Dir: t.TempDir(), Replica: "../etc"},
		{Dir: t.TempDir(), Replica: "a/b"},
	} {
		if w, err := Open(context.Background(), opts); err == nil {
			w.Close()
			t.Errorf("Open(%+v) succeeded", opts)
		}
	}
}

// TestCloseWhileAppending runs Appends into a Close: each either succeeds
// (and is in the chain) or fails with ErrClosed; none hangs.
func TestCloseWhileAppending(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, "ctl-0", nil)
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := range 32 {
		wg.Go(func() {
			_, err := w.Append(context.Background(), decisionRecord(i))
			switch {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, ErrClosed):
				t.Errorf("Append during Close: %v", err)
			}
		})
	}
	time.Sleep(time.Millisecond)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if sum := mustVerify(t, dir, "ctl-0"); sum.Records != uint64(ok.Load()) {
		t.Fatalf("%d successful Appends, %d records", ok.Load(), sum.Records)
	}
}
