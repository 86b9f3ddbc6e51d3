package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Defaults of Options.
const (
	DefaultMaxFileBytes = 64 << 20
	DefaultMaxBatch     = 256
)

// Errors of the Writer.
var (
	// ErrClosed: Append after Close.
	ErrClosed = errors.New("audit writer is closed")
	// ErrInvalidRecord: the caller left out a field Append needs.
	ErrInvalidRecord = errors.New("invalid audit record")
	// ErrRecordTooLarge: the record's line would exceed MaxLineBytes.
	ErrRecordTooLarge = errors.New("audit record too large")
	// ErrCorruptTail: Open found that the chain's last complete line is
	// not a valid record of this replica, so it cannot resume the chain.
	// It does not cut complete lines: that could destroy evidence. Run
	// `podvirtctl audit verify` and move the damaged file aside.
	ErrCorruptTail = errors.New("the audit chain's last line is not a valid record")
	// ErrChainLocked: another Writer holds the replica's chain.
	ErrChainLocked = errors.New("another writer holds this replica's audit chain")
)

// Options configure a Writer.
type Options struct {
	// Dir holds the audit files; it is created if missing.
	Dir string
	// Replica names this writer's chain and is part of its file names:
	// the Pod name, so that every replica writes its own chain.
	Replica string
	// MaxFileBytes is the size at which the Writer starts a new file
	// (DefaultMaxFileBytes if 0). A file exceeds it only by holding a
	// single line longer than it.
	MaxFileBytes int64
	// MaxBatch bounds how many records one group commit writes
	// (DefaultMaxBatch if 0); it is also the depth of the queue of
	// records waiting for the next commit.
	MaxBatch int
	// Now stamps records whose Time is zero (time.Now if nil).
	Now func() time.Time
	// SyncFile makes an audit file's written data durable ((*os.File).Sync,
	// i.e. fsync, if nil). Tests count or fail fsyncs through it.
	SyncFile func(*os.File) error
	// Log receives recovery and rotation messages (discarded if zero).
	Log logr.Logger
}

// Writer appends sealed records to one replica's chain. Its methods are safe
// for concurrent use.
type Writer struct {
	opts   Options
	unlock func() error

	// sendMu makes Close wait for Appends that are handing a request over,
	// so that no request is left in the queue after the committer exits.
	sendMu sync.RWMutex
	closed bool

	requests  chan *appendRequest
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
	closeErr  error

	failMu  sync.Mutex
	failure error

	// The committer goroutine owns these once Open has returned.
	file        *os.File
	fileIndex   int
	fileSize    int64
	seq         uint64
	prev        string
	pending     []byte
	pendingReqs []*appendRequest
}

type appendRequest struct {
	rec  Record
	done chan appendResult
}

type appendResult struct {
	rec Record
	err error
}

func (r *appendRequest) finish(rec Record, err error) {
	r.done <- appendResult{rec: rec, err: err}
}

// Open opens the replica's chain in opts.Dir for appending. A new chain
// starts with a first file; an existing one resumes after its last line.
// When the newest file ends in a torn line (bytes after the last newline,
// left by a crash in the middle of a write that was never acknowledged),
// Open cuts it and logs that it did; any other damage to the last line is
// ErrCorruptTail. Only one Writer per replica and directory may be open.
func Open(ctx context.Context, opts Options) (*Writer, error) {
	if opts.Dir == "" {
		return nil, errors.New("opening the audit log: no directory given")
	}
	if err := validateReplica(opts.Replica); err != nil {
		return nil, fmt.Errorf("opening the audit log: %w", err)
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SyncFile == nil {
		opts.SyncFile = (*os.File).Sync
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating the audit directory: %w", err)
	}
	unlock, err := lockChain(opts.Dir, opts.Replica)
	if err != nil {
		return nil, err
	}
	w := &Writer{
		opts:     opts,
		unlock:   unlock,
		requests: make(chan *appendRequest, opts.MaxBatch),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	if err := w.resume(ctx); err != nil {
		if w.file != nil {
			_ = w.file.Close()
		}
		_ = unlock()
		return nil, fmt.Errorf("opening the audit chain of replica %s: %w", opts.Replica, err)
	}
	go w.commitLoop()
	return w, nil
}

// resume finds the chain's head (last seq and hash) and the file to append
// to, cutting a torn last line.
func (w *Writer) resume(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	files, err := chainFiles(w.opts.Dir, w.opts.Replica)
	if err != nil {
		return err
	}
	w.seq, w.prev = 0, GenesisHash
	if len(files) == 0 {
		return w.createFile(1)
	}
	newest := files[len(files)-1]
	path := filepath.Join(w.opts.Dir, newest.name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", newest.name, err)
	}
	w.file, w.fileIndex = f, newest.index
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("inspecting %s: %w", newest.name, err)
	}
	line, end, err := lastLine(f, info.Size())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorruptTail, err)
	}
	if end < info.Size() {
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("cutting the torn last line of %s: %w", newest.name, err)
		}
		if err := w.opts.SyncFile(f); err != nil {
			return fmt.Errorf("syncing %s after cutting its torn last line: %w", newest.name, err)
		}
		w.opts.Log.Info("cut a torn last line from the audit log (a write interrupted by a crash; its request was never answered)",
			"file", newest.name, "offset", end, "bytes", info.Size()-end)
	}
	w.fileSize = end
	lineFile := newest.name
	// A crash right after a rotation leaves the newest file empty: the
	// head is then the last line of an older file.
	for i := len(files) - 2; line == nil && i >= 0; i-- {
		lineFile = files[i].name
		line, err = lastLineOfRotated(filepath.Join(w.opts.Dir, lineFile))
		if err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if line == nil {
		return nil // no record yet: the chain starts at genesis
	}
	rec, err := ParseLine(line)
	if err != nil {
		return fmt.Errorf("%w: last line of %s: %w", ErrCorruptTail, lineFile, err)
	}
	if rec.Replica != w.opts.Replica {
		return fmt.Errorf("%w: last line of %s belongs to replica %q", ErrCorruptTail, lineFile, rec.Replica)
	}
	w.seq, w.prev = rec.Seq, rec.Hash
	return nil
}

// lastLineOfRotated returns the last line of a file the Writer has moved on
// from. Such a file was fsync'd whole before the next one was created, so a
// torn line there is damage, not a crash.
func lastLineOfRotated(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", filepath.Base(path), err)
	}
	line, end, err := lastLine(f, info.Size())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptTail, err)
	}
	if end != info.Size() {
		return nil, fmt.Errorf("%w: %s, an older file, ends in a torn line", ErrCorruptTail, filepath.Base(path))
	}
	return line, nil
}

// createFile starts the chain's index'th file and makes its name durable.
func (w *Writer) createFile(index int) error {
	name := FileName(w.opts.Replica, index)
	f, err := os.OpenFile(filepath.Join(w.opts.Dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	if err := syncDir(w.opts.Dir); err != nil {
		_ = f.Close()
		return fmt.Errorf("syncing the audit directory after creating %s: %w", name, err)
	}
	w.file, w.fileIndex, w.fileSize = f, index, 0
	return nil
}

// Append seals rec into the chain and returns once its line is written and
// fsync'd, with the sealed record: Version, Seq, Replica, Prev and Hash
// filled in, and Time if it was zero. The caller fills in the rest; Webhook
// and a valid Decision are required.
//
// Concurrent Appends share fsyncs (group commit). If ctx ends first, Append
// returns its error, but the record may still reach the log: a line in the
// log means the decision was made, not that its response was delivered. A
// failed write or fsync makes the Writer unusable (see Err): every later
// Append fails until the chain is reopened, which resumes from what is on
// disk.
func (w *Writer) Append(ctx context.Context, rec Record) (Record, error) {
	if err := rec.validateForAppend(); err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	if err := w.Err(); err != nil {
		return Record{}, err
	}
	req := &appendRequest{rec: rec, done: make(chan appendResult, 1)}
	w.sendMu.RLock()
	if w.closed {
		w.sendMu.RUnlock()
		return Record{}, ErrClosed
	}
	select {
	case w.requests <- req:
		w.sendMu.RUnlock()
	case <-ctx.Done():
		w.sendMu.RUnlock()
		return Record{}, fmt.Errorf("queueing the audit record: %w", ctx.Err())
	}
	select {
	case res := <-req.done:
		return res.rec, res.err
	case <-ctx.Done():
		return Record{}, fmt.Errorf("waiting for the audit record to be durable: %w", ctx.Err())
	}
}

// Err returns the error that made the Writer unusable, or nil. A health
// check can report it so that the process restarts and reopens the chain.
func (w *Writer) Err() error {
	w.failMu.Lock()
	defer w.failMu.Unlock()
	return w.failure
}

func (w *Writer) fail(err error) {
	w.failMu.Lock()
	defer w.failMu.Unlock()
	if w.failure == nil {
		w.failure = fmt.Errorf("audit log unusable until reopened: %w", err)
	}
}

// Close commits the records already queued, then closes the file and
// releases the chain. Appends after Close fail with ErrClosed.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() {
		w.sendMu.Lock()
		w.closed = true
		w.sendMu.Unlock()
		close(w.stop)
		<-w.stopped
		var errs []error
		if w.file != nil {
			if err := w.file.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing %s: %w", w.file.Name(), err))
			}
		}
		if err := w.unlock(); err != nil {
			errs = append(errs, fmt.Errorf("releasing the audit chain lock: %w", err))
		}
		w.closeErr = errors.Join(errs...)
	})
	return w.closeErr
}

// commitLoop is the group committer: it takes every queued request, writes
// their lines with one write and one fsync, and releases their Appends.
func (w *Writer) commitLoop() {
	defer close(w.stopped)
	batch := make([]*appendRequest, 0, w.opts.MaxBatch)
	for {
		select {
		case req := <-w.requests:
			w.commit(w.drain(append(batch[:0], req)))
		case <-w.stop:
			// Close set closed before stop, so nothing more arrives.
			for {
				batch = w.drain(batch[:0])
				if len(batch) == 0 {
					return
				}
				w.commit(batch)
			}
		}
	}
}

// drain adds queued requests to batch without waiting, up to MaxBatch.
func (w *Writer) drain(batch []*appendRequest) []*appendRequest {
	for len(batch) < w.opts.MaxBatch {
		select {
		case req := <-w.requests:
			batch = append(batch, req)
		default:
			return batch
		}
	}
	return batch
}

// commit seals and writes one batch.
func (w *Writer) commit(batch []*appendRequest) {
	w.pending, w.pendingReqs = w.pending[:0], w.pendingReqs[:0]
	for _, req := range batch {
		if err := w.Err(); err != nil {
			req.finish(Record{}, err)
			continue
		}
		rec, body, err := w.seal(req.rec)
		if err != nil {
			req.finish(Record{}, err) // this record only; the chain is untouched
			continue
		}
		lineLen := int64(len(body) - 1 + hashSuffixLen + 1)
		if used := w.fileSize + int64(len(w.pending)); used > 0 && used+lineLen > w.opts.MaxFileBytes {
			if !w.flush() {
				req.finish(Record{}, w.Err())
				continue
			}
			if err := w.rotate(); err != nil {
				w.fail(err)
				req.finish(Record{}, w.Err())
				continue
			}
		}
		w.pending = appendSealedLine(w.pending, body, rec.Hash)
		w.seq, w.prev = rec.Seq, rec.Hash
		req.rec = rec
		w.pendingReqs = append(w.pendingReqs, req)
	}
	w.flush()
}

// seal fills in the chain fields of rec and returns it with its body (the
// bytes its hash covers).
func (w *Writer) seal(rec Record) (Record, []byte, error) {
	rec.Version = SchemaVersion
	rec.Seq = w.seq + 1
	rec.Replica = w.opts.Replica
	rec.Prev = w.prev
	rec.Hash = ""
	if rec.Time.IsZero() {
		rec.Time = w.opts.Now()
	}
	rec.Time = rec.Time.UTC()
	body, err := encodeBody(rec)
	if err != nil {
		return Record{}, nil, err
	}
	if n := len(body) - 1 + hashSuffixLen; n > MaxLineBytes {
		return Record{}, nil, fmt.Errorf("%w: its line would be %d bytes, the limit is %d", ErrRecordTooLarge, n, MaxLineBytes)
	}
	rec.Hash = hashBody(body)
	return rec, body, nil
}

// flush writes the pending lines, fsyncs, and releases their Appends. It
// reports whether the lines are durable; on failure the Writer is unusable.
func (w *Writer) flush() bool {
	if len(w.pendingReqs) == 0 {
		return w.Err() == nil
	}
	err := w.Err()
	if err == nil {
		n, werr := w.file.Write(w.pending)
		w.fileSize += int64(n)
		if werr != nil {
			w.fail(fmt.Errorf("writing %s: %w", filepath.Base(w.file.Name()), werr))
		} else if serr := w.opts.SyncFile(w.file); serr != nil {
			w.fail(fmt.Errorf("syncing %s: %w", filepath.Base(w.file.Name()), serr))
		}
		err = w.Err()
	}
	for _, req := range w.pendingReqs {
		if err != nil {
			req.finish(Record{}, err)
		} else {
			req.finish(req.rec, nil)
		}
	}
	w.pending, w.pendingReqs = w.pending[:0], w.pendingReqs[:0]
	return err == nil
}

// rotate closes the current file, whose lines are all durable, and starts
// the next one.
func (w *Writer) rotate() error {
	old := w.file
	if err := old.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", filepath.Base(old.Name()), err)
	}
	w.file = nil
	if err := w.createFile(w.fileIndex + 1); err != nil {
		return err
	}
	w.opts.Log.V(1).Info("rotated the audit log", "closed", filepath.Base(old.Name()), "opened", filepath.Base(w.file.Name()), "seq", w.seq)
	return nil
}
