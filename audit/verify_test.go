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

// tamperFixture writes a 12-record chain of replica ctl-0 over several
// files and returns the directory, the file names and the sealed records.
func tamperFixture(t *testing.T) (string, []string, []Record) {
	t.Helper()
	dir := t.TempDir()
	w := openTestWriter(t, dir, "ctl-0", func(o *Options) { o.MaxFileBytes = 2500 })
	sealed := appendRecords(t, w, 0, 12)
	w.Close()
	sum := mustVerify(t, dir, "ctl-0")
	if len(sum.Files) < 3 {
		t.Fatalf("fixture wants at least 3 files, got %v", sum.Files)
	}
	return dir, sum.Files, sealed
}

func TestVerifyNamesTheFirstBrokenLine(t *testing.T) {
	type edit func(t *testing.T, dir string, files []string, sealed []Record)
	editLines := func(file int, f func(lines [][]byte) [][]byte) edit {
		return func(t *testing.T, dir string, files []string, _ []Record) {
			lines := fileLines(t, dir, files[file])
			writeLines(t, dir, files[file], f(lines))
		}
	}
	cases := []struct {
		name   string
		edit   edit
		file   int // index into the fixture's files
		line   int
		reason BreakReason
		detail string
	}{
		{"one byte edited", editLines(0, func(l [][]byte) [][]byte {
			l[1] = bytes.Replace(l[1], []byte(`"user":"alice"`), []byte(`"user":"alicE"`), 1)
			return l
		}), 0, 2, ReasonHashMismatch, "the line (seq 2) was changed after it was written"},
		{"hash edited", editLines(1, func(l [][]byte) [][]byte {
			l[0] = append(flipHashDigit(bytes.TrimSuffix(l[0], []byte("\n"))), '\n')
			return l
		}), 1, 1, ReasonHashMismatch, ""},
		{"line removed", editLines(1, func(l [][]byte) [][]byte {
			return append(l[:1:1], l[2:]...)
		}), 1, 2, ReasonSeqMismatch, "1 line(s) before this one were removed or moved"},
		{"first line removed", editLines(0, func(l [][]byte) [][]byte {
			return l[1:]
		}), 0, 1, ReasonSeqMismatch, "expected seq 1, found 2"},
		{"lines swapped", editLines(0, func(l [][]byte) [][]byte {
			l[1], l[2] = l[2], l[1]
			return l
		}), 0, 2, ReasonSeqMismatch, "expected seq 2, found 3"},
		{"line duplicated", editLines(0, func(l [][]byte) [][]byte {
			return append(l[:2:2], l[1:]...)
		}), 0, 3, ReasonSeqMismatch, "duplicate"},
		{"line removed and rest resealed with new seqs", func(t *testing.T, dir string, files []string, _ []Record) {
			// The editor removes line 2 and renumbers and rehashes line 3
			// to hide the gap; its prev still names the removed line. (A
			// rewrite of everything after it is caught by anchors only.)
			lines := fileLines(t, dir, files[0])
			rec, _ := ParseLine(bytes.TrimSuffix(lines[2], []byte("\n")))
			rec.Seq--
			_, line := sealForTest(t, rec, rec.Seq, rec.Prev)
			lines = append(append(lines[:1:1], append(line, '\n')), lines[3:]...)
			writeLines(t, dir, files[0], lines)
		}, 0, 2, ReasonPrevMismatch, "previous line's hash is"},
		{"unparsable line", editLines(0, func(l [][]byte) [][]byte {
			l[0] = []byte("garbage\n")
			return l
		}), 0, 1, ReasonUnparsable, ""},
		{"torn line in an older file", editLines(0, func(l [][]byte) [][]byte {
			last := len(l) - 2 // l ends with an empty element after the last newline
			l[last] = l[last][:20]
			return l[:last+1]
		}), 0, -1, ReasonTornLine, "newer file follows"},
		{"middle file removed", func(t *testing.T, dir string, files []string, _ []Record) {
			os.Remove(filepath.Join(dir, files[1]))
		}, 2, 1, ReasonMissingFile, "expected " + FileName("ctl-0", 2)},
		{"line from another replica", func(t *testing.T, dir string, files []string, sealed []Record) {
			rec := sealed[0]
			rec.Replica = "ctl-1"
			_, line := sealForTest(t, rec, 1, GenesisHash)
			lines := fileLines(t, dir, files[0])
			lines[0] = append(line, '\n')
			writeLines(t, dir, files[0], lines)
		}, 0, 1, ReasonReplicaMismatch, `"ctl-1"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, files, sealed := tamperFixture(t)
			tc.edit(t, dir, files, sealed)
			_, err := VerifyChain(context.Background(), dir, "ctl-0")
			var brk *Break
			if !errors.As(err, &brk) {
				t.Fatalf("VerifyChain = %v, want a *Break", err)
			}
			line := tc.line
			if line < 0 {
				line = len(fileLines(t, dir, files[tc.file]))
			}
			if brk.File != files[tc.file] || brk.Line != line || brk.Reason != tc.reason || !strings.Contains(brk.Detail, tc.detail) {
				t.Fatalf("break %v\nwant %s:%d: %s: …%s…", brk, files[tc.file], line, tc.reason, tc.detail)
			}
		})
	}
}

func TestVerifyAnchors(t *testing.T) {
	dir, files, sealed := tamperFixture(t)
	good := []Anchor{{Replica: "ctl-0", Seq: 5, Hash: sealed[4].Hash}, {Replica: "ctl-0", Seq: 12, Hash: sealed[11].Hash}, {Replica: "other", Seq: 99, Hash: GenesisHash}}
	if _, err := VerifyChain(context.Background(), dir, "ctl-0", good...); err != nil {
		t.Fatalf("matching anchors: %v", err)
	}

	// Lines cut from the end cannot be seen without an anchor...
	newest := files[len(files)-1]
	lines := fileLines(t, dir, newest)
	writeLines(t, dir, newest, lines[:len(lines)-2])
	if _, err := VerifyChain(context.Background(), dir, "ctl-0"); err != nil {
		t.Fatalf("a cut end is invisible without anchors, got %v", err)
	}
	// ...and are with one.
	_, err := VerifyChain(context.Background(), dir, "ctl-0", good...)
	var brk *Break
	if !errors.As(err, &brk) || brk.Reason != ReasonAnchorMismatch || !strings.Contains(brk.Detail, "ends at seq 11") {
		t.Fatalf("VerifyChain with anchors = %v", err)
	}

	// A rewritten chain (every hash recomputed) disagrees with an anchor.
	anchor := Anchor{Replica: "ctl-0", Seq: 2, Hash: strings.Repeat("1", 64)}
	_, err = VerifyChain(context.Background(), dir, "ctl-0", anchor)
	if !errors.As(err, &brk) || brk.Reason != ReasonAnchorMismatch || brk.Line != 2 {
		t.Fatalf("VerifyChain with a mismatched anchor = %v", err)
	}
}

func TestCheckAnchorsJudgesEachAnchor(t *testing.T) {
	dir, files, sealed := tamperFixture(t)
	wrong := strings.Repeat("1", 64)
	anchors := []Anchor{
		{Replica: "ctl-0", Seq: 2, Hash: wrong},            // 0: mismatch
		{Replica: "ctl-0", Seq: 5, Hash: sealed[4].Hash},   // 1: verified, after a mismatch
		{Replica: "ctl-0", Seq: 5, Hash: wrong},            // 2: the same seq, another hash
		{Replica: "ctl-0", Seq: 12, Hash: sealed[11].Hash}, // 3: verified, the last line
		{Replica: "ctl-0", Seq: 14, Hash: wrong},           // 4: beyond the end
		{Replica: "ctl-0", Seq: 13, Hash: wrong},           // 5: beyond the end, the nearer
		{Replica: "other", Seq: 1, Hash: wrong},            // 6: another replica's
	}
	sum, results, err := CheckAnchors(context.Background(), dir, "ctl-0", anchors)
	if err != nil {
		t.Fatalf("CheckAnchors of an intact chain: %v", err)
	}
	if sum.Records != 12 || len(results) != len(anchors) {
		t.Fatalf("summary %+v, %d results", sum, len(results))
	}
	for _, i := range []int{1, 3} {
		if results[i] != nil {
			t.Errorf("anchor %d: %v, want verified", i, results[i])
		}
	}
	var brk *Break
	for _, i := range []int{0, 2} {
		if !errors.As(results[i], &brk) || brk.Reason != ReasonAnchorMismatch || !strings.Contains(brk.Detail, "the chain was rewritten") {
			t.Errorf("anchor %d: %v, want a mismatch", i, results[i])
		}
	}
	if !errors.As(results[0], &brk) || brk.File != files[0] || brk.Line != 2 {
		t.Errorf("anchor 0's break %v, want %s:2", results[0], files[0])
	}
	for _, i := range []int{4, 5} {
		if !errors.As(results[i], &brk) || brk.Reason != ReasonAnchorMismatch || !strings.Contains(brk.Detail, "ends at seq 12") {
			t.Errorf("anchor %d: %v, want the chain to end before it", i, results[i])
		}
	}
	if results[6] == nil || errors.As(results[6], &brk) || !strings.Contains(results[6].Error(), `"other"`) {
		t.Errorf("another replica's anchor: %v", results[6])
	}

	// VerifyChain stops at the first mismatch, in chain order.
	if _, err := VerifyChain(context.Background(), dir, "ctl-0", anchors...); !errors.As(err, &brk) || brk.Line != 2 {
		t.Fatalf("VerifyChain = %v, want the break at line 2", err)
	}
	if _, err := VerifyChain(context.Background(), dir, "ctl-0", anchors[3:]...); !errors.As(err, &brk) || !strings.Contains(brk.Detail, "names seq 13") {
		t.Fatalf("VerifyChain = %v, want the nearest seq beyond the end", err)
	}

	// Anchors after a break are not reached; those before it are judged.
	lines := fileLines(t, dir, files[1])
	writeLines(t, dir, files[1], lines[1:])
	_, results, err = CheckAnchors(context.Background(), dir, "ctl-0", anchors)
	if !errors.As(err, &brk) || brk.Reason != ReasonSeqMismatch {
		t.Fatalf("CheckAnchors of a chain with a removed line: %v", err)
	}
	if !errors.As(results[0], &brk) || brk.Reason != ReasonAnchorMismatch {
		t.Errorf("anchor 0 before the break: %v", results[0])
	}
	for _, i := range []int{3, 4, 5} {
		if !errors.Is(results[i], ErrAnchorNotReached) {
			t.Errorf("anchor %d after the break: %v, want ErrAnchorNotReached", i, results[i])
		}
	}
}

func TestParseAnchor(t *testing.T) {
	a := Anchor{Replica: "podvirt-controller-7d9f-x2", Seq: 42, Hash: strings.Repeat("ab", 32)}
	got, err := ParseAnchor(a.String())
	if err != nil || got != a {
		t.Fatalf("ParseAnchor(%s) = %+v, %v", a, got, err)
	}
	for _, bad := range []string{"", "r:1", "r:0:" + a.Hash, "r:x:" + a.Hash, "r:1:" + strings.ToUpper(a.Hash), ":1:" + a.Hash} {
		if _, err := ParseAnchor(bad); err == nil {
			t.Errorf("ParseAnchor(%q) succeeded", bad)
		}
	}
}

func TestVerifyEmptyDirectory(t *testing.T) {
	if _, err := VerifyChain(context.Background(), t.TempDir(), "ctl-0"); err == nil || errors.As(err, new(*Break)) {
		t.Fatalf("VerifyChain of nothing = %v, want a plain error", err)
	}
}
