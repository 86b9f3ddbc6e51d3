package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseLine: ParseLine never panics nor modifies its input, accepts only
// lines whose hash covers them as documented, and what it accepts the
// Writer's encoding reproduces. Seeds: testdata/fuzz/FuzzParseLine.
func FuzzParseLine(f *testing.F) {
	_, line := sealForTest(f, decisionRecord(1), 1, GenesisHash)
	f.Add(line)
	f.Fuzz(func(t *testing.T, line []byte) {
		before := bytes.Clone(line)
		rec, err := ParseLine(line)
		if !bytes.Equal(before, line) {
			t.Fatal("ParseLine modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrUnparsable) && !errors.Is(err, ErrHashMismatch) {
				t.Fatalf("error %v wraps neither ErrUnparsable nor ErrHashMismatch", err)
			}
			return
		}
		covered := append(bytes.Clone(line[:len(line)-hashSuffixLen]), '}')
		sum := sha256.Sum256(covered)
		if rec.Hash != hex.EncodeToString(sum[:]) || rec.Version != SchemaVersion || rec.Seq == 0 || !rec.Decision.Valid() {
			t.Fatalf("accepted an invalid record: %+v", rec)
		}
		body, err := encodeBody(rec)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseLine(bytes.TrimSuffix(appendSealedLine(nil, body, hashBody(body)), []byte("\n")))
		if err != nil || again.Seq != rec.Seq || again.Prev != rec.Prev || again.Decision != rec.Decision || !again.Time.Equal(rec.Time) {
			t.Fatalf("re-encoding an accepted record: %+v, %v", again, err)
		}
	})
}

// FuzzOpenRecoversTail appends arbitrary bytes to a valid chain, as a crash
// or an editor might. Open must either refuse with ErrCorruptTail or resume
// so that the chain, with one more record, verifies. Seeds:
// testdata/fuzz/FuzzOpenRecoversTail.
func FuzzOpenRecoversTail(f *testing.F) {
	f.Add([]byte(`{"v":1,"seq":4,"ti`))
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		noSync := func(o *Options) { o.SyncFile = func(*os.File) error { return nil } }
		w := openTestWriter(t, dir, "ctl-0", noSync)
		appendRecords(t, w, 0, 3)
		w.Close()
		path := filepath.Join(dir, FileName("ctl-0", 1))
		file, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		file.Write(tail)
		file.Close()

		opts := Options{Dir: dir, Replica: "ctl-0", SyncFile: func(*os.File) error { return nil }}
		w, err = Open(context.Background(), opts)
		if err != nil {
			if !errors.Is(err, ErrCorruptTail) {
				t.Fatalf("Open = %v, want success or ErrCorruptTail", err)
			}
			return
		}
		if _, err := w.Append(context.Background(), decisionRecord(9)); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if _, err := VerifyChain(context.Background(), dir, "ctl-0"); err != nil {
			t.Fatalf("after recovering from tail %q: %v", tail, err)
		}
	})
}
