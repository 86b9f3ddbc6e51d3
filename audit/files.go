package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
)

// DefaultDir is where podvirt keeps the audit log unless told otherwise.
const DefaultDir = "/var/lib/podvirt/audit"

// replicaPattern is what a replica name may look like: a Pod name fits.
var replicaPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

// fileNamePattern matches FileName's output: audit-<replica>-<index>.jsonl.
var fileNamePattern = regexp.MustCompile(`^audit-([A-Za-z0-9][A-Za-z0-9._-]*)-([0-9]{8,})\.jsonl$`)

// FileName is the name of a replica's index'th audit file (from 1). Names
// sort in chain order for indexes below 10^8; readers order by the parsed
// index, so larger ones work too.
func FileName(replica string, index int) string {
	return fmt.Sprintf("audit-%s-%08d.jsonl", replica, index)
}

func validateReplica(replica string) error {
	if !replicaPattern.MatchString(replica) {
		return fmt.Errorf("replica name %q is not usable in a file name (letters, digits, '.', '_', '-'; at most 253)", replica)
	}
	return nil
}

// chainFile is one file of a replica's chain.
type chainFile struct {
	name  string
	index int
}

// listChains returns every replica's files under dir, each in chain order.
func listChains(dir string) (map[string][]chainFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing the audit directory: %w", err)
	}
	chains := map[string][]chainFile{}
	for _, e := range entries {
		m := fileNamePattern.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		index, err := strconv.Atoi(m[2])
		if err != nil || index < 1 {
			continue
		}
		chains[m[1]] = append(chains[m[1]], chainFile{name: e.Name(), index: index})
	}
	for _, files := range chains {
		slices.SortFunc(files, func(a, b chainFile) int { return a.index - b.index })
	}
	return chains, nil
}

// chainFiles returns one replica's files under dir in chain order.
func chainFiles(dir, replica string) ([]chainFile, error) {
	chains, err := listChains(dir)
	if err != nil {
		return nil, err
	}
	return chains[replica], nil
}

// Replicas returns the names of the replicas that have audit files in dir,
// sorted.
func Replicas(dir string) ([]string, error) {
	chains, err := listChains(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(chains))
	for name := range chains {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// errTornLine marks bytes at the end of a file that no newline ends.
var errTornLine = errors.New("line has no terminating newline")

// errLineTooLong marks a line longer than MaxLineBytes; the reader skipped it.
var errLineTooLong = fmt.Errorf("%w: line is longer than %d bytes", ErrUnparsable, MaxLineBytes)

// lineReader reads newline-terminated lines of at most MaxLineBytes without
// ever buffering more than that.
type lineReader struct {
	r   *bufio.Reader
	buf []byte
	// consumed counts the bytes of every line returned so far, newlines
	// included: the offset just past the last complete line.
	consumed int64
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line without its newline; the slice is valid until
// the next call. It returns io.EOF at a clean end, errTornLine (with the
// partial bytes, not counted in consumed) when the data ends without a
// newline, and errLineTooLong for an oversized line, which it skips.
func (lr *lineReader) next() ([]byte, error) {
	lr.buf = lr.buf[:0]
	tooLong := false
	var n int64
	for {
		chunk, err := lr.r.ReadSlice('\n')
		n += int64(len(chunk))
		if !tooLong {
			if len(lr.buf)+len(chunk) > MaxLineBytes+1 {
				tooLong, lr.buf = true, lr.buf[:0]
			} else {
				lr.buf = append(lr.buf, chunk...)
			}
		}
		switch {
		case err == nil:
			lr.consumed += n
			if tooLong {
				return nil, errLineTooLong
			}
			return lr.buf[:len(lr.buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if n == 0 {
				return nil, io.EOF
			}
			if tooLong {
				return nil, errTornLine
			}
			return lr.buf, errTornLine
		default:
			return nil, fmt.Errorf("reading: %w", err)
		}
	}
}

// lastLine finds the end of f's last complete line and that line. end is the
// offset just past the last newline (0 when there is none); line is the
// complete line before it, nil when there is none.
func lastLine(f *os.File, size int64) (line []byte, end int64, err error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	end = -1
	pos := size
	for pos > 0 {
		n := int64(chunk)
		if pos < n {
			n = pos
		}
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, fmt.Errorf("reading %s: %w", f.Name(), err)
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] != '\n' {
				continue
			}
			at := pos + i
			if end < 0 {
				end = at + 1
				continue
			}
			// at is the newline before the last complete line.
			line = make([]byte, end-1-(at+1))
			if _, err := f.ReadAt(line, at+1); err != nil {
				return nil, 0, fmt.Errorf("reading %s: %w", f.Name(), err)
			}
			return line, end, nil
		}
		if end >= 0 && end-pos > MaxLineBytes+1 {
			return nil, 0, fmt.Errorf("%s: %w", f.Name(), errLineTooLong)
		}
	}
	if end < 0 {
		return nil, 0, nil
	}
	// The last complete line is the file's first line.
	line = make([]byte, end-1)
	if _, err := f.ReadAt(line, 0); err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	return line, end, nil
}
