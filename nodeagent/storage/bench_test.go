package storage

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/podvirt/podvirt/domainspec"
)

// copyFile is how a node agent before the overlays made a containerDisk:
// a private copy of the image's disk, written next to the target and
// renamed. Kept here only, to measure what a start cost then.
func copyFile(src, target string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := target + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying the disk image: %w", err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, target)
}

// BenchmarkContainerDiskStart measures what preparing a containerDisk
// costs a VMI's start, the image already in the node's cache, for a
// 64 MiB and a 4 GiB image (sparse files, as big images mostly are
// zeros): copy is the old whole-image copy into the VMI's directory,
// overlay the whole of today's Prepare (plan, quota, records, the
// overlay's header, its checks). Run both sizes side by side:
//
//	go test -run '^$' -bench ContainerDiskStart -benchtime 3x ./nodeagent/storage
//
// The copy grows with the image; the overlay does not.
func BenchmarkContainerDiskStart(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int64
	}{{"64MiB", 64 << 20}, {"4GiB", 4 << 30}} {
		cacheDir := b.TempDir()
		cache := &ImageCache{Dir: cacheDir}
		root := filepath.Join(cacheDir, "sha256-"+fmt.Sprintf("%064x", size.bytes), "rootfs")
		if err := os.MkdirAll(filepath.Join(root, "disk"), 0o755); err != nil {
			b.Fatal(err)
		}
		image := filepath.Join(root, "disk", "disk.img")
		f, err := os.OpenFile(image, os.O_CREATE|os.O_WRONLY, 0o444)
		if err != nil {
			b.Fatal(err)
		}
		// A sparse image with data at its start and its end.
		if _, err := f.Write([]byte("podvirt test image")); err != nil {
			b.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("end"), size.bytes-3); err != nil {
			b.Fatal(err)
		}
		f.Close()
		ref := "registry.example/guest/disk-" + strings.ToLower(size.name) + ":1"
		cache.refs = map[string]string{ref: root} // pulled before: no registry
		vs := &Volumes{Images: cache, FreeBytes: freeBytes(64 << 30)}
		md := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{{Name: "root", Kind: domainspec.VolumeContainerDisk, Image: ref}}}
		pod := launcherPod(size.bytes + 64<<20)
		work := b.TempDir()

		b.Run("copy/"+size.name, func(b *testing.B) {
			b.SetBytes(size.bytes)
			for i := range b.N {
				target := filepath.Join(work, "copy-"+strconv.Itoa(i)+".img")
				if err := copyFile(image, target); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = os.Remove(target)
				b.StartTimer()
			}
		})
		b.Run("overlay/"+size.name, func(b *testing.B) {
			for i := range b.N {
				b.StopTimer()
				parent := filepath.Join(work, "pod-"+strconv.Itoa(i))
				if err := os.Mkdir(parent, 0o755); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := vs.Prepare(context.Background(), pod, md, filepath.Join(parent, "vmi")); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = os.RemoveAll(parent)
				b.StartTimer()
			}
		})
	}
}
