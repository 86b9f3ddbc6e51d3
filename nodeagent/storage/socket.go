package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/podvirt/podvirt/nodeagent/failure"
)

// ShareSocket gives the unix socket name in dir, the node agent's own
// directory in a launcher Pod's state volume, to uid:gid with mode 0660,
// so that the launcher container (that user) may connect to it: connecting
// to a unix socket needs write permission on it. QEMU made the socket as
// the host's libvirt user; nothing else is changed.
//
// The Pod can write to the emptyDir around dir, so nothing there is
// followed: dir is opened without following a link and must still be the
// agent's own directory (as ensureDir checks at define), the socket is
// opened O_PATH|O_NOFOLLOW relative to it and must be a socket (a link
// planted in its place is refused, never its target changed), and the
// owner and mode are set on that very file descriptor. A missing socket
// (a guest without a serial console, or started before consoles were
// sockets) is no error: there is nothing to share.
func ShareSocket(dir, name string, uid, gid int) error {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%w: opening %s without following links: %v", failure.ErrRefused, dir, err)
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		return fmt.Errorf("%w: %s is not the node agent's own directory (uid %d, mode %o)", failure.ErrRefused, dir, st.Uid, st.Mode&0o7777)
	}
	fd, err := unix.Openat(dfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening %s: %w", filepath.Join(dir, name), err)
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("reading %s: %w", filepath.Join(dir, name), err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("%w: %s is not a socket (mode %o)", failure.ErrRefused, filepath.Join(dir, name), st.Mode)
	}
	if int(st.Uid) == uid && int(st.Gid) == gid && st.Mode&0o7777 == 0o660 {
		return nil
	}
	if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("giving %s to %d:%d: %w", filepath.Join(dir, name), uid, gid, err)
	}
	// fchmod refuses an O_PATH descriptor; its /proc link names the same
	// inode, whatever happens to the path meanwhile.
	if err := unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), 0o660); err != nil {
		return fmt.Errorf("making %s connectable by its group: %w", filepath.Join(dir, name), err)
	}
	return nil
}
