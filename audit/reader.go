package audit

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Filter selects records; its zero value selects every record.
type Filter struct {
	// Since and Until bound Time to [Since, Until); zero means unbounded.
	Since, Until time.Time
	// Namespace, User and Webhook select records with exactly that value.
	Namespace string
	User      string
	Webhook   string
	// Decisions selects records with any of these decisions.
	Decisions []Decision
	// Policy selects records that carry a result of the policy so named.
	Policy string
}

// Matches reports whether rec passes every condition of f.
func (f Filter) Matches(rec Record) bool {
	switch {
	case !f.Since.IsZero() && rec.Time.Before(f.Since),
		!f.Until.IsZero() && !rec.Time.Before(f.Until),
		f.Namespace != "" && rec.Namespace != f.Namespace,
		f.User != "" && rec.User != f.User,
		f.Webhook != "" && rec.Webhook != f.Webhook,
		len(f.Decisions) > 0 && !slices.Contains(f.Decisions, rec.Decision):
		return false
	}
	if f.Policy != "" {
		return slices.ContainsFunc(rec.Policies, func(p PolicyResult) bool { return p.Name == f.Policy })
	}
	return true
}

// LineError is a line a reader could not use; reading goes on after it.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// recordLess orders records by time, then replica, then seq.
func recordLess(a, b Record) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	if a.Replica != b.Replica {
		return a.Replica < b.Replica
	}
	return a.Seq < b.Seq
}

func compareRecords(a, b Record) int {
	switch {
	case recordLess(a, b):
		return -1
	case recordLess(b, a):
		return 1
	}
	return 0
}

// Read yields the records of every replica in dir that match f, merged by
// time (ties by replica, then seq). Each replica's records are read in
// chain order, which is time order when the Writer stamped the times.
// Lines that do not parse or whose hash does not match are yielded as a
// *LineError and skipped; reading continues. Read does not check the chain
// (use VerifyChain). The files are only read, so Read may run while
// Writers append: it sees the lines complete when it reaches them.
func Read(ctx context.Context, dir string, f Filter) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		chains, err := listChains(dir)
		if err != nil {
			yield(Record{}, err)
			return
		}
		var merge recordHeap
		defer merge.closeAll()
		for _, files := range chains {
			c := &chainCursor{dir: dir, files: files}
			if !merge.advance(c, f, yield) {
				return
			}
		}
		for merge.Len() > 0 {
			if err := ctx.Err(); err != nil {
				yield(Record{}, err)
				return
			}
			top := merge.items[0]
			if !yield(top.head, nil) {
				return
			}
			heap.Pop(&merge)
			if !merge.advance(top.cursor, f, yield) {
				return
			}
		}
	}
}

// chainCursor reads one replica's files in order, record by record.
type chainCursor struct {
	dir   string
	files []chainFile
	file  *os.File
	lines *lineReader
	name  string
	line  int
}

// next returns the cursor's next record, a *LineError for a bad line, or
// io.EOF at the end of the chain.
func (c *chainCursor) next() (Record, error) {
	for {
		if c.file == nil {
			if len(c.files) == 0 {
				return Record{}, io.EOF
			}
			c.name, c.files = c.files[0].name, c.files[1:]
			f, err := os.Open(filepath.Join(c.dir, c.name))
			if err != nil {
				return Record{}, fmt.Errorf("opening %s: %w", c.name, err)
			}
			c.file, c.lines, c.line = f, newLineReader(f), 0
		}
		raw, err := c.lines.next()
		if errors.Is(err, io.EOF) {
			c.close()
			continue
		}
		c.line++
		switch {
		case errors.Is(err, errTornLine) && len(c.files) == 0:
			// The writer is in the middle of this line, or crashed there;
			// either way it is not a record yet.
			c.close()
			continue
		case errors.Is(err, errTornLine):
			c.close() // a newer file follows: this line will never be completed
			return Record{}, &LineError{File: c.name, Line: c.line, Err: err}
		case errors.Is(err, ErrUnparsable):
			return Record{}, &LineError{File: c.name, Line: c.line, Err: err}
		case err != nil:
			c.close()
			c.files = nil
			return Record{}, fmt.Errorf("%s: %w", c.name, err)
		}
		rec, err := ParseLine(raw)
		if err != nil {
			return Record{}, &LineError{File: c.name, Line: c.line, Err: err}
		}
		return rec, nil
	}
}

func (c *chainCursor) close() {
	if c.file != nil {
		_ = c.file.Close()
		c.file, c.lines = nil, nil
	}
}

// recordHeap merges chain cursors by their head record.
type recordHeap struct {
	items []heapItem
}

type heapItem struct {
	head   Record
	cursor *chainCursor
}

func (h *recordHeap) Len() int           { return len(h.items) }
func (h *recordHeap) Less(i, j int) bool { return recordLess(h.items[i].head, h.items[j].head) }
func (h *recordHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *recordHeap) Push(x any)         { h.items = append(h.items, x.(heapItem)) }
func (h *recordHeap) Pop() any {
	last := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return last
}

// advance reads c up to its next matching record and pushes it; bad lines
// go to yield. It returns false when yield asked to stop.
func (h *recordHeap) advance(c *chainCursor, f Filter, yield func(Record, error) bool) bool {
	for {
		rec, err := c.next()
		switch {
		case errors.Is(err, io.EOF):
			return true
		case err != nil:
			var lineErr *LineError
			if !yield(Record{}, err) {
				c.close()
				return false
			}
			if !errors.As(err, &lineErr) {
				c.close() // an I/O error: drop this chain
				return true
			}
		case f.Matches(rec):
			heap.Push(h, heapItem{head: rec, cursor: c})
			return true
		}
	}
}

func (h *recordHeap) closeAll() {
	for _, it := range h.items {
		it.cursor.close()
	}
}

// FollowOptions configure Follow.
type FollowOptions struct {
	Filter Filter
	// Last is how many of the records already written (that match the
	// filter) to yield first, like tail -n.
	Last int
	// PollInterval is how often to look for new lines (250ms if 0).
	PollInterval time.Duration
}

// Last yields the last n records in dir that match f, in time order. It
// reads each replica's files from the newest back, only as far as needed.
// Bad lines are yielded as *LineError.
func Last(ctx context.Context, dir string, f Filter, n int) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(Record{}, err)
			return
		}
		_, err := startFollowing(dir, f, n, yield)
		if err != nil {
			yield(Record{}, err)
		}
	}
}

// startFollowing yields the last n matching records and returns a cursor
// per replica positioned after them. A missing dir is an empty one. It
// returns a nil map when yield asked to stop.
func startFollowing(dir string, f Filter, n int, yield func(Record, error) bool) (map[string]*followCursor, error) {
	cursors := map[string]*followCursor{}
	chains, err := listChains(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var backlog []Record
	var problems []error
	for replica, files := range chains {
		c := &followCursor{dir: dir, replica: replica}
		cursors[replica] = c
		recent, errs := c.startAtEnd(files, f, n)
		backlog = append(backlog, recent...)
		problems = append(problems, errs...)
	}
	for _, err := range problems {
		if !yield(Record{}, err) {
			return nil, nil
		}
	}
	slices.SortFunc(backlog, compareRecords)
	if len(backlog) > n {
		backlog = backlog[len(backlog)-n:]
	}
	for _, rec := range backlog {
		if !yield(rec, nil) {
			return nil, nil
		}
	}
	return cursors, nil
}

// Follow yields the last opts.Last matching records already in dir, then
// every matching record written after, until ctx ends, following
// rotations and replicas that appear later; dir may not exist yet. It
// polls the directory. New records are yielded in time order within each
// poll; across polls they come as they were written. Bad lines are yielded
// as *LineError.
func Follow(ctx context.Context, dir string, opts FollowOptions) iter.Seq2[Record, error] {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	return func(yield func(Record, error) bool) {
		cursors, err := startFollowing(dir, opts.Filter, opts.Last, yield)
		if err != nil {
			yield(Record{}, err)
			return
		}
		if cursors == nil {
			return
		}
		var problems []error
		ticker := time.NewTicker(opts.PollInterval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			chains, err := listChains(dir)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if !yield(Record{}, err) {
					return
				}
				continue
			}
			var fresh []Record
			problems = problems[:0]
			for replica := range chains {
				c, ok := cursors[replica]
				if !ok {
					c = &followCursor{dir: dir, replica: replica}
					cursors[replica] = c
				}
				c.readNew(chains[replica], func(rec Record, err error) {
					switch {
					case err != nil:
						problems = append(problems, err)
					case opts.Filter.Matches(rec):
						fresh = append(fresh, rec)
					}
				})
			}
			for _, err := range problems {
				if !yield(Record{}, err) {
					return
				}
			}
			slices.SortFunc(fresh, compareRecords)
			for _, rec := range fresh {
				if !yield(rec, nil) {
					return
				}
			}
		}
	}
}

// followCursor remembers how far Follow has read one replica's chain:
// the file index and the offset just past its last complete line.
type followCursor struct {
	dir     string
	replica string
	index   int // 0: no file read yet
	offset  int64
	line    int
}

// startAtEnd positions the cursor at the end of the chain and returns up
// to last matching records from its end, reading files from the newest
// back only as far as needed.
func (c *followCursor) startAtEnd(files []chainFile, f Filter, last int) ([]Record, []error) {
	if len(files) == 0 {
		return nil, nil
	}
	var recent []Record
	var errs []error
	for i := len(files) - 1; i >= 0; i-- {
		var inFile []Record
		probe := &followCursor{dir: c.dir, replica: c.replica, index: files[i].index}
		probe.readFile(files[i].name, func(rec Record, err error) {
			switch {
			case err != nil:
				errs = append(errs, err)
			case last > 0 && f.Matches(rec):
				inFile = append(inFile, rec)
			}
		})
		if i == len(files)-1 {
			*c = *probe
		}
		recent = append(inFile, recent...)
		if len(recent) >= last {
			break
		}
	}
	if len(recent) > last {
		recent = recent[len(recent)-last:]
	}
	return recent, errs
}

// readNew reads the lines completed since the last call, moving on to the
// next file once a newer one exists.
func (c *followCursor) readNew(files []chainFile, emit func(Record, error)) {
	for {
		if c.index == 0 {
			if len(files) == 0 {
				return
			}
			c.index, c.offset, c.line = files[0].index, 0, 0
		}
		i := slices.IndexFunc(files, func(f chainFile) bool { return f.index > c.index })
		name := FileName(c.replica, c.index)
		torn := c.readFile(name, emit)
		if i < 0 {
			return
		}
		// A newer file exists, so the Writer is done with this one; the
		// read above saw everything written before the rotation.
		if torn {
			emit(Record{}, &LineError{File: name, Line: c.line + 1, Err: errTornLine})
		}
		c.index, c.offset, c.line = files[i].index, 0, 0
	}
}

// readFile reads the complete lines of the cursor's file after its offset
// and reports whether the file ends in a line without a newline (yet).
func (c *followCursor) readFile(name string, emit func(Record, error)) (torn bool) {
	f, err := os.Open(filepath.Join(c.dir, name))
	if err != nil {
		emit(Record{}, fmt.Errorf("opening %s: %w", name, err))
		return false
	}
	defer f.Close()
	if _, err := f.Seek(c.offset, io.SeekStart); err != nil {
		emit(Record{}, fmt.Errorf("seeking in %s: %w", name, err))
		return false
	}
	start := c.offset
	lr := newLineReader(f)
	for {
		raw, err := lr.next()
		if errors.Is(err, io.EOF) {
			return false
		}
		if errors.Is(err, errTornLine) {
			return true // it may still be completed: read it again next time
		}
		if err != nil && !errors.Is(err, ErrUnparsable) {
			emit(Record{}, fmt.Errorf("%s: %w", name, err))
			return false
		}
		c.offset = start + lr.consumed
		c.line++
		if err != nil {
			emit(Record{}, &LineError{File: name, Line: c.line, Err: err})
			continue
		}
		rec, err := ParseLine(raw)
		if err != nil {
			emit(Record{}, &LineError{File: name, Line: c.line, Err: err})
			continue
		}
		emit(rec, nil)
	}
}
