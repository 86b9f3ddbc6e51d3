package storage

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/podvirt/podvirt/domainspec"
)

// RotateSerialLog bounds the serial log in a VMI's directory: when it is
// larger than max bytes, its last max bytes replace SerialLogFile+".1"
// and it is truncated (copy and truncate: QEMU holds the file open, so it
// cannot be renamed away). The domain opens the log append='on', so QEMU
// goes on writing at its new end. What the guest writes between the copy
// and the truncation is lost, a few bytes at most. Each file then stays
// within max, plus, for the live one, what the guest writes between two
// calls: domainspec.SerialLogAllowanceBytes counts three times
// domainspec.SerialLogMaxBytes. It reports whether it rotated; no log is
// no error.
func RotateSerialLog(dir string, max int64) (bool, error) {
	path := filepath.Join(dir, domainspec.SerialLogFile)
	// O_NOFOLLOW: the log is QEMU's to write, and the agent (root) never
	// follows a link in its place to truncate another file.
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("opening the serial log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() {
		return false, fmt.Errorf("the serial log %s is not a regular file", path)
	}
	size := fi.Size()
	if size <= max {
		return false, nil
	}
	rotated := path + ".1"
	tmp := rotated + ".tmp"
	_ = os.Remove(tmp)
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, fi.Mode().Perm())
	if err != nil {
		return false, fmt.Errorf("rotating the serial log: %w", err)
	}
	if _, err := io.Copy(out, io.NewSectionReader(f, size-max, max)); err != nil {
		out.Close()
		os.Remove(tmp)
		return false, fmt.Errorf("rotating the serial log: %w", err)
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return false, err
	}
	if err := os.Rename(tmp, rotated); err != nil {
		return false, err
	}
	if err := f.Truncate(0); err != nil {
		return false, fmt.Errorf("truncating the serial log: %w", err)
	}
	return true, nil
}
