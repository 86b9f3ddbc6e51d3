package storage

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func tarOf(t *testing.T, entries ...*tar.Header) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		body := []byte("content of " + h.Name)
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(body)
		}
	}
	tw.Close()
	return &buf
}

func TestExtractWritesFilesOnly(t *testing.T) {
	root := filepath.Join(t.TempDir(), "rootfs")
	buf := tarOf(t,
		&tar.Header{Typeflag: tar.TypeDir, Name: "boot/", Mode: 0o755},
		&tar.Header{Typeflag: tar.TypeReg, Name: "boot/vmlinuz", Mode: 0o644},
		&tar.Header{Typeflag: tar.TypeSymlink, Name: "boot/evil", Linkname: "/etc/shadow"},
		&tar.Header{Typeflag: tar.TypeLink, Name: "boot/hard", Linkname: "boot/vmlinuz"},
	)
	if err := extract(buf, root, 1<<20); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "boot/vmlinuz")); err != nil || string(b) != "content of boot/vmlinuz" {
		t.Errorf("vmlinuz: %q, %v", b, err)
	}
	for _, name := range []string{"boot/evil", "boot/hard"} {
		if _, err := os.Lstat(filepath.Join(root, name)); !os.IsNotExist(err) {
			t.Errorf("%s was extracted (links could point the domain at host files)", name)
		}
	}
}

func TestExtractStaysInRoot(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	buf := tarOf(t, &tar.Header{Typeflag: tar.TypeReg, Name: "../../outside", Mode: 0o644})
	if err := extract(buf, root, 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "outside")); !os.IsNotExist(err) {
		t.Error("an entry escaped the root")
	}
	if _, err := os.Stat(filepath.Join(root, "outside")); err != nil {
		t.Errorf("the entry was not confined to the root: %v", err)
	}
}
