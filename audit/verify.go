package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// BreakReason says why a line breaks the chain.
type BreakReason string

// Break reasons, in the order VerifyChain checks each line.
const (
	// ReasonMissingFile: the replica's file numbers skip one (or do not
	// start at 1); the Break names the first line after the gap.
	ReasonMissingFile BreakReason = "missing file"
	// ReasonTornLine: a line without a newline at the end of a file that
	// is not the newest.
	ReasonTornLine BreakReason = "torn line"
	// ReasonUnparsable: not a schema v1 record.
	ReasonUnparsable BreakReason = "unparsable"
	// ReasonHashMismatch: the line's contents were changed (or its hash).
	ReasonHashMismatch BreakReason = "hash mismatch"
	// ReasonReplicaMismatch: the line belongs to another replica's chain.
	ReasonReplicaMismatch BreakReason = "replica mismatch"
	// ReasonSeqMismatch: the line is not the next in sequence: lines were
	// removed, duplicated or reordered before it.
	ReasonSeqMismatch BreakReason = "sequence mismatch"
	// ReasonPrevMismatch: the line does not name the previous line's hash.
	ReasonPrevMismatch BreakReason = "prev mismatch"
	// ReasonAnchorMismatch: the chain disagrees with a hash recorded
	// elsewhere (an Anchor), or ends before it.
	ReasonAnchorMismatch BreakReason = "anchor mismatch"
)

// Break is the first line where a chain stops verifying. It is the error
// VerifyChain returns for a broken chain.
type Break struct {
	Replica string
	// File is the file's base name, Line the line's number in it (from 1).
	File string
	Line int
	// Seq is the sequence number the line should carry.
	Seq    uint64
	Reason BreakReason
	Detail string
}

func (b *Break) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", b.File, b.Line, b.Reason, b.Detail)
}

// Anchor is a (seq, hash) pair of a replica's chain kept outside the audit
// files, e.g. the "record" audit annotation in the kube-apiserver's audit
// log. Without anchors a chain cannot reveal lines cut from its end, nor a
// rewrite that recomputed every later hash.
type Anchor struct {
	Replica string
	Seq     uint64
	Hash    string
}

// String formats the anchor as ParseAnchor reads it: <replica>:<seq>:<hash>.
func (a Anchor) String() string { return fmt.Sprintf("%s:%d:%s", a.Replica, a.Seq, a.Hash) }

var anchorPattern = regexp.MustCompile(`^([^:]+):([0-9]+):([0-9a-f]{64})$`)

// ParseAnchor reads "<replica>:<seq>:<hash>", the value of the "record"
// audit annotation.
func ParseAnchor(s string) (Anchor, error) {
	m := anchorPattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Anchor{}, fmt.Errorf("anchor %q is not <replica>:<seq>:<64 hex digits>", s)
	}
	seq, err := strconv.ParseUint(m[2], 10, 64)
	if err != nil || seq == 0 {
		return Anchor{}, fmt.Errorf("anchor %q: seq must be a positive integer", s)
	}
	return Anchor{Replica: m[1], Seq: seq, Hash: m[3]}, nil
}

// ChainSummary describes what VerifyChain walked.
type ChainSummary struct {
	Replica string
	// Files are the chain's files in order (base names).
	Files []string
	// Records counts the lines that verified.
	Records uint64
	// LastSeq and Head are the seq and hash of the last verified line
	// (0 and GenesisHash for an empty chain).
	LastSeq uint64
	Head    string
	// TornTail is set when the newest file ends in a line without a
	// newline: a write in progress, or a crash the Writer has not yet
	// recovered from by reopening. It is not counted as a break.
	TornTail bool
}

// VerifyChain walks the replica's chain in dir from its first line and
// returns a *Break for the first line that does not verify: unparsable, a
// hash that does not match the line, a seq that is not the previous one
// plus one (so removed and reordered lines are caught), a prev that is not
// the previous line's hash, or a disagreement with an anchor. Other errors
// are I/O errors. The summary covers the lines before the break.
func VerifyChain(ctx context.Context, dir, replica string, anchors ...Anchor) (ChainSummary, error) {
	sum, _, err := walkChain(ctx, dir, replica, anchors, true)
	return sum, err
}

// ErrAnchorNotReached is CheckAnchors' result for an anchor whose seq lies
// after the chain's first broken line: the chain cannot vouch for it.
var ErrAnchorNotReached = errors.New("the chain breaks before the anchor's seq")

// CheckAnchors walks the replica's chain like VerifyChain, but judges every
// anchor on its own instead of stopping at the first that disagrees.
// results[i] is about anchors[i]: nil when the chain's line at that seq
// carries that hash; a *Break with ReasonAnchorMismatch when the line
// carries another hash (its place is the line) or when the chain ends
// before that seq (its place is just past the last line; Seq > the
// summary's LastSeq tells the two apart); ErrAnchorNotReached when the chain
// breaks before that seq; and an error naming the replica for an anchor of
// another replica. The returned error is, as VerifyChain's, a *Break for the
// chain's first broken line other than an anchor's, or an I/O error; the
// summary covers every line before that break.
func CheckAnchors(ctx context.Context, dir, replica string, anchors []Anchor) (ChainSummary, []error, error) {
	return walkChain(ctx, dir, replica, anchors, false)
}

// walkChain is VerifyChain (stopAtAnchor) and CheckAnchors (not).
func walkChain(ctx context.Context, dir, replica string, anchors []Anchor, stopAtAnchor bool) (ChainSummary, []error, error) {
	sum := ChainSummary{Replica: replica, Head: GenesisHash}
	files, err := chainFiles(dir, replica)
	if err != nil {
		return sum, nil, err
	}
	if len(files) == 0 {
		return sum, nil, fmt.Errorf("no audit files of replica %q in %s", replica, dir)
	}
	v := chainVerifier{sum: &sum, anchors: anchors, want: map[uint64][]int{}, stopAtAnchor: stopAtAnchor}
	v.results = make([]error, len(anchors))
	for i, a := range anchors {
		if a.Replica != replica {
			v.results[i] = fmt.Errorf("the anchor is of replica %q, not %q", a.Replica, replica)
			continue
		}
		v.results[i] = ErrAnchorNotReached
		v.want[a.Seq] = append(v.want[a.Seq], i)
	}
	for i, f := range files {
		sum.Files = append(sum.Files, f.name)
		expectIndex := 1
		if i > 0 {
			expectIndex = files[i-1].index + 1
		}
		if f.index != expectIndex {
			return sum, v.results, v.broken(f.name, 1, ReasonMissingFile, fmt.Sprintf("expected %s next, found %s", FileName(replica, expectIndex), f.name))
		}
		if err := v.file(ctx, filepath.Join(dir, f.name), i == len(files)-1); err != nil {
			return sum, v.results, err
		}
	}
	// The whole chain verified: every anchor still not reached names a seq
	// the chain does not have.
	var beyond *Break
	beyondSeq := uint64(0)
	for i, a := range anchors {
		if !errors.Is(v.results[i], ErrAnchorNotReached) {
			continue
		}
		detail := fmt.Sprintf("the chain ends at seq %d but an anchor names seq %d (hash %s): lines were cut from the end", sum.LastSeq, a.Seq, a.Hash)
		if a.Seq <= sum.LastSeq { // seq 0, which no line has
			detail = fmt.Sprintf("an anchor names seq %d, which no line has", a.Seq)
		}
		brk := v.broken(files[len(files)-1].name, v.line+1, ReasonAnchorMismatch, detail)
		v.results[i] = brk
		if beyond == nil || a.Seq < beyondSeq {
			beyond, beyondSeq = brk, a.Seq
		}
	}
	if beyond != nil && stopAtAnchor {
		return sum, v.results, beyond
	}
	return sum, v.results, nil
}

// chainVerifier carries the chain state from line to line and file to file.
type chainVerifier struct {
	sum *ChainSummary
	// anchors and results are walkChain's; want maps a seq to the indexes
	// of the replica's anchors that name it.
	anchors      []Anchor
	results      []error
	want         map[uint64][]int
	stopAtAnchor bool
	line         int // number of the current line in the current file
}

func (v *chainVerifier) broken(file string, line int, reason BreakReason, detail string) *Break {
	return &Break{Replica: v.sum.Replica, File: file, Line: line, Seq: v.sum.LastSeq + 1, Reason: reason, Detail: detail}
}

func (v *chainVerifier) file(ctx context.Context, path string, newest bool) error {
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", name, err)
	}
	defer f.Close()
	lr := newLineReader(f)
	v.line = 0
	for {
		if v.line%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		raw, err := lr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		v.line++
		switch {
		case errors.Is(err, errTornLine) && newest:
			v.sum.TornTail = true
			return nil
		case errors.Is(err, errTornLine):
			return v.broken(name, v.line, ReasonTornLine, "the line has no newline but a newer file follows")
		case errors.Is(err, ErrUnparsable):
			return v.broken(name, v.line, ReasonUnparsable, detailOf(err, ErrUnparsable))
		case err != nil:
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := v.record(name, raw); err != nil {
			return err
		}
	}
}

func (v *chainVerifier) record(name string, raw []byte) error {
	expect := v.sum.LastSeq + 1
	rec, err := ParseLine(raw)
	switch {
	case errors.Is(err, ErrHashMismatch):
		return v.broken(name, v.line, ReasonHashMismatch,
			fmt.Sprintf("the line (seq %d) was changed after it was written: %s", rec.Seq, detailOf(err, ErrHashMismatch)))
	case err != nil:
		return v.broken(name, v.line, ReasonUnparsable, detailOf(err, ErrUnparsable))
	case rec.Replica != v.sum.Replica:
		return v.broken(name, v.line, ReasonReplicaMismatch, fmt.Sprintf("the line belongs to replica %q", rec.Replica))
	case rec.Seq > expect:
		return v.broken(name, v.line, ReasonSeqMismatch,
			fmt.Sprintf("expected seq %d, found %d: %d line(s) before this one were removed or moved", expect, rec.Seq, rec.Seq-expect))
	case rec.Seq < expect:
		return v.broken(name, v.line, ReasonSeqMismatch,
			fmt.Sprintf("expected seq %d, found %d: this line is a duplicate or was moved here", expect, rec.Seq))
	case rec.Prev != v.sum.Head:
		return v.broken(name, v.line, ReasonPrevMismatch,
			fmt.Sprintf("prev is %s but the previous line's hash is %s", rec.Prev, v.sum.Head))
	}
	for _, i := range v.want[rec.Seq] {
		if hash := v.anchors[i].Hash; hash != rec.Hash {
			brk := v.broken(name, v.line, ReasonAnchorMismatch,
				fmt.Sprintf("seq %d hashes to %s but the anchor says %s: the chain was rewritten", rec.Seq, rec.Hash, hash))
			if v.stopAtAnchor {
				return brk
			}
			v.results[i] = brk
			continue
		}
		v.results[i] = nil
	}
	v.sum.Records++
	v.sum.LastSeq, v.sum.Head = rec.Seq, rec.Hash
	return nil
}

// detailOf is err's message without the sentinel's, which the Break's
// reason already says.
func detailOf(err, sentinel error) string {
	return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
}
