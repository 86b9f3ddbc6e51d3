//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package audit

// lockChain does nothing where flock(2) is missing; the Writer runs on Linux,
// other platforms only read audit files.
func lockChain(dir, replica string) (func() error, error) {
	return func() error { return nil }, nil
}

// syncDir does nothing where directories cannot be fsync'd.
func syncDir(dir string) error { return nil }
