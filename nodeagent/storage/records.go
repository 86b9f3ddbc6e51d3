package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/podvirt/podvirt/nodeagent/failure"
)

// RecordFile is the node agent's record, in the VMI's directory, of what
// it decided about each disk file when it first made it: its format and,
// for a containerDisk's overlay, the backing image. A format is decided
// once, by construction (an emptyDisk and a cloud-init ISO are raw, an
// overlay is qcow2) or, for a backing image, by the magic of the image
// file in the cache, which nothing writes and whose digest names it. It
// is never probed again from a file the guest writes: a raw disk whose
// guest wrote a qcow2 header would otherwise be read as qcow2 after a
// restart, the guest's bytes as metadata.
const RecordFile = "disks.json"

// diskRecord is what the node agent decided about one disk file.
type diskRecord struct {
	// Format is the file's own format: raw or qcow2.
	Format string `json:"format"`
	// The backing image of a containerDisk's overlay: its file in the
	// image cache, its format (raw or qcow2), the root of its image's
	// files (the read-only directory the domain may read it from), the
	// image by digest (to pull it again should the cache have lost it)
	// and the disk's virtual size (the overlay's).
	BackingFile   string `json:"backingFile,omitempty"`
	BackingFormat string `json:"backingFormat,omitempty"`
	ImageRoot     string `json:"imageRoot,omitempty"`
	Image         string `json:"image,omitempty"`
	VirtualBytes  int64  `json:"virtualBytes,omitempty"`
}

// diskRecords are a VMI's records, by bare file name.
type diskRecords struct {
	Disks map[string]diskRecord `json:"disks"`
}

// readRecords reads the VMI's records; none when the node agent has not
// written them yet.
func readRecords(dir string) (diskRecords, error) {
	recs := diskRecords{Disks: map[string]diskRecord{}}
	f, err := os.OpenFile(filepath.Join(dir, RecordFile), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		return recs, nil
	}
	if err != nil {
		return recs, fmt.Errorf("%w: reading the disk records: %v", failure.ErrRefused, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return recs, err
	}
	if err := json.Unmarshal(b, &recs); err != nil {
		return recs, fmt.Errorf("%w: the disk records %s: %v", failure.ErrRefused, filepath.Join(dir, RecordFile), err)
	}
	if recs.Disks == nil {
		recs.Disks = map[string]diskRecord{}
	}
	return recs, nil
}

// writeRecords replaces the VMI's records, writing next to them and
// renaming, so a crash leaves the old records or the new ones.
func writeRecords(dir string, recs diskRecords) error {
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, RecordFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return fmt.Errorf("writing the disk records: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("writing the disk records: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
