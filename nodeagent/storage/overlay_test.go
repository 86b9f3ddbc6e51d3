package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvirt/podvirt/nodeagent/failure"
)

// qemuImg runs qemu-img, skipping the test where it is not installed.
func qemuImg(t *testing.T, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Skip("qemu-img not installed")
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// The overlay the node agent writes is one qemu-img reads as its own: a
// qcow2 v3 image of the backing file's size, naming it and its format,
// with consistent refcounts; reads go to the backing file and writes
// stay in the overlay.
func TestOverlayIsAQcow2ImageOverItsBacking(t *testing.T) {
	for _, format := range []string{"raw", "qcow2"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			base := filepath.Join(dir, "base.img")
			content := bytes.Repeat([]byte("podvirt base "), 100000) // 1.3 MB, not a cluster multiple
			if err := os.WriteFile(base, content, 0o444); err != nil {
				t.Fatal(err)
			}
			virtual := int64(len(content))
			if format == "qcow2" {
				raw := base
				base = filepath.Join(dir, "base.qcow2")
				qemuImg(t, "convert", "-f", "raw", "-O", "qcow2", raw, base)
				virtual = (virtual + 511) &^ 511
			}
			overlay := filepath.Join(dir, "overlay.qcow2")
			if err := writeOverlay(overlay, base, format, virtual); err != nil {
				t.Fatal(err)
			}
			var info struct {
				Format          string `json:"format"`
				VirtualSize     int64  `json:"virtual-size"`
				BackingFilename string `json:"backing-filename"`
				BackingFormat   string `json:"backing-filename-format"`
				ClusterSize     int64  `json:"cluster-size"`
				FormatSpecific  struct {
					Data struct {
						Compat string `json:"compat"`
					} `json:"data"`
				} `json:"format-specific"`
			}
			if err := json.Unmarshal(qemuImg(t, "info", "--output=json", overlay), &info); err != nil {
				t.Fatal(err)
			}
			if info.Format != "qcow2" || info.FormatSpecific.Data.Compat != "1.1" || info.BackingFilename != base || info.BackingFormat != format ||
				info.VirtualSize != (int64(len(content))+511)&^511 || info.ClusterSize != 64<<10 {
				t.Errorf("qemu-img info: %+v", info)
			}
			qemuImg(t, "check", "-f", "qcow2", overlay)
			// Reads come from the backing file.
			out := filepath.Join(dir, "out.raw")
			qemuImg(t, "convert", "-f", "qcow2", "-O", "raw", overlay, out)
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got[:len(content)], content) || len(got) != int(info.VirtualSize) {
				t.Errorf("the overlay reads %d bytes unlike its backing file's %d", len(got), len(content))
			}
			if err := checkOverlay(overlay, base); err != nil {
				t.Errorf("checkOverlay of its own overlay: %v", err)
			}
		})
	}
}

func TestOverlayHeaderRefuses(t *testing.T) {
	for _, c := range []struct {
		name, backing, format string
		virtual               int64
		refused               bool
	}{
		{"relative backing", "base.img", "raw", 1 << 20, false},
		{"backing name too long", "/" + strings.Repeat("x", 1023), "raw", 1 << 20, false},
		{"vmdk backing", "/base.vmdk", "vmdk", 1 << 20, false},
		{"empty disk", "/base.img", "raw", 0, true},
		{"beyond 64 TiB", "/base.img", "raw", 1<<46 + 1, true},
	} {
		_, _, err := overlayHeader(c.backing, c.format, c.virtual)
		if err == nil || (c.refused && !errors.Is(err, failure.ErrRefused)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// checkOverlay takes only an overlay naming the expected backing file,
// without an external data file.
func TestCheckOverlay(t *testing.T) {
	dir := t.TempDir()
	overlay := filepath.Join(dir, "o.qcow2")
	if err := writeOverlay(overlay, "/cache/sha256-1/rootfs/disk/a.img", "raw", 1<<30); err != nil {
		t.Fatal(err)
	}
	if err := checkOverlay(overlay, "/cache/sha256-1/rootfs/disk/a.img"); err != nil {
		t.Errorf("its own overlay: %v", err)
	}
	if err := checkOverlay(overlay, "/cache/sha256-2/rootfs/disk/a.img"); !errors.Is(err, failure.ErrRefused) {
		t.Errorf("over another backing file: %v", err)
	}
	h, _ := os.ReadFile(overlay)
	h[72+7] |= qcow2ExternalDataFile
	dataFile := filepath.Join(dir, "d.qcow2")
	_ = os.WriteFile(dataFile, h, 0o600)
	if err := checkOverlay(dataFile, "/cache/sha256-1/rootfs/disk/a.img"); !errors.Is(err, failure.ErrRefused) {
		t.Errorf("an external data file: %v", err)
	}
	raw := filepath.Join(dir, "raw.img")
	_ = os.WriteFile(raw, make([]byte, 4096), 0o600)
	if err := checkOverlay(raw, "/x"); !errors.Is(err, failure.ErrRefused) {
		t.Errorf("a raw file: %v", err)
	}
}

// The overlay's bound is its virtual size and a little: tight for the
// quota, never below what QEMU can make it take.
func TestOverlayMaxBytes(t *testing.T) {
	for _, c := range []struct {
		virtual, atLeast, most int64
	}{
		{64 << 20, 64 << 20, 64<<20 + 2<<20},
		{1 << 30, 1 << 30, 1<<30 + 2<<20},
		{4 << 30, 4 << 30, 4<<30 + 3<<20},
		{1, 512, 2 << 20},
	} {
		if n := overlayMaxBytes(c.virtual); n < c.atLeast || n > c.most {
			t.Errorf("overlay of %d bytes may take %d, want %d..%d", c.virtual, n, c.atLeast, c.most)
		}
	}
	if n := overlayMaxBytes(0); n != 1<<63-1 {
		t.Errorf("an impossible overlay's bound %d", n)
	}
}

// Filled by QEMU, an overlay takes no more than its bound.
func TestOverlayFilledStaysInItsBound(t *testing.T) {
	qemuIO, err := exec.LookPath("qemu-io")
	if err != nil {
		t.Skip("qemu-io not installed")
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base.img")
	const virtual = 32 << 20
	f, _ := os.Create(base)
	_ = f.Truncate(virtual)
	f.Close()
	overlay := filepath.Join(dir, "o.qcow2")
	if err := writeOverlay(overlay, base, "raw", virtual); err != nil {
		t.Fatal(err)
	}
	// Every cluster, in 4 KiB writes at odd places, then all again.
	if out, err := exec.Command(qemuIO, "-f", "qcow2", "-c", "write -P 0x5a 0 32M", "-c", "write -P 0x11 12345 4096", "-c", "discard 0 16M", "-c", "write -P 0x22 0 32M", overlay).CombinedOutput(); err != nil {
		t.Fatalf("qemu-io: %v\n%s", err, out)
	}
	qemuImg(t, "check", "-f", "qcow2", overlay)
	if err := checkOverlay(overlay, base); err != nil {
		t.Errorf("the overlay QEMU wrote: %v", err)
	}
	fi, _ := os.Stat(overlay)
	if bound := overlayMaxBytes(virtual); fi.Size() > bound {
		t.Errorf("the filled overlay is %d bytes, beyond its bound %d", fi.Size(), bound)
	}
	b, _ := os.ReadFile(base)
	if !bytes.Equal(b, make([]byte, virtual)) {
		t.Error("the backing file was written")
	}
}
