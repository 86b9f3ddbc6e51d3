//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockChain takes an exclusive advisory lock on the replica's chain in dir,
// so that two processes never interleave lines of one chain. The returned
// function releases it.
func lockChain(dir, replica string) (func() error, error) {
	path := filepath.Join(dir, ".audit-"+replica+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening the audit chain lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: replica %s in %s", ErrChainLocked, replica, dir)
		}
		return nil, fmt.Errorf("locking the audit chain: %w", err)
	}
	return f.Close, nil // closing the descriptor releases the lock
}

// syncDir makes the directory's entries (a newly created file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}
