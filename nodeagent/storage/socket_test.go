package storage

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/podvirt/podvirt/nodeagent/failure"
)

// listen makes a unix socket at path, closed (and removed) when the test
// ends.
func listen(t *testing.T, path string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
}

func owner(t *testing.T, path string) (uid, gid uint32, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid, fi.Mode()
}

func TestShareSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vmi")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Nothing to share yet.
	if err := ShareSocket(dir, "serial.sock", 65532, 65532); err != nil {
		t.Fatalf("no socket: %v", err)
	}
	listen(t, filepath.Join(dir, "serial.sock"))
	uid, gid := os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		uid, gid = 65532, 65532 // only root may give a file away
	}
	for range 2 { // and again: nothing left to change
		if err := ShareSocket(dir, "serial.sock", uid, gid); err != nil {
			t.Fatal(err)
		}
		if u, g, mode := owner(t, filepath.Join(dir, "serial.sock")); int(u) != uid || int(g) != gid || mode.Perm() != 0o660 || mode&os.ModeSocket == 0 {
			t.Fatalf("socket %d:%d %v, want %d:%d 0660", u, g, mode, uid, gid)
		}
	}
}

// Whatever the Pod could plant in the emptyDir is refused and left alone.
func TestShareSocketFollowsNothing(t *testing.T) {
	root := t.TempDir()
	target := filepath.Join(root, "host-file")
	if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	mkdir := func(name string, mode os.FileMode) string {
		d := filepath.Join(root, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		return d
	}

	linked := mkdir("linked", 0o755)
	if err := os.Symlink(target, filepath.Join(linked, "serial.sock")); err != nil {
		t.Fatal(err)
	}
	regular := mkdir("regular", 0o755)
	if err := os.WriteFile(filepath.Join(regular, "serial.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	writable := mkdir("writable", 0o777)
	listen(t, filepath.Join(writable, "serial.sock"))
	real := mkdir("real", 0o755)
	listen(t, filepath.Join(real, "serial.sock"))
	dirLink := filepath.Join(root, "dir-link")
	if err := os.Symlink(real, dirLink); err != nil {
		t.Fatal(err)
	}

	for name, dir := range map[string]string{"socket is a link": linked, "socket is a file": regular, "directory writable by others": writable, "directory is a link": dirLink} {
		if err := ShareSocket(dir, "serial.sock", 65532, 65532); !errors.Is(err, failure.ErrRefused) {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
	if u, _, mode := owner(t, target); int(u) != os.Geteuid() || mode.Perm() != 0o600 {
		t.Errorf("the link's target was changed: uid %d %v", u, mode)
	}
	if u, _, _ := owner(t, filepath.Join(real, "serial.sock")); int(u) != os.Geteuid() {
		t.Errorf("the socket behind a linked directory was changed: uid %d", u)
	}
}
