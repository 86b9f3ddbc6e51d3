package storage

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
)

// ImageCache pulls guest images and extracts their files once per image
// digest under Dir/<algorithm>-<hex>/rootfs.
//
// Only regular files and directories are extracted: a symlink or hard link
// in a guest image could point the domain at a host file, so they are
// skipped, as are device nodes.
type ImageCache struct {
	Dir string

	mu   sync.Mutex
	refs map[string]string // image reference -> extracted root, for IfNotPresent
}

// Resolve returns the directory that will hold the image's extracted
// files, without writing anything: from what this cache already pulled, or
// by reading the image's manifest from its registry. The node agent uses it
// to check a domain before any pull.
func (c *ImageCache) Resolve(ctx context.Context, image string, policy corev1.PullPolicy) (string, error) {
	c.mu.Lock()
	root, ok := c.refs[image]
	c.mu.Unlock()
	if ok && policy != corev1.PullAlways {
		return root, nil
	}
	if policy == corev1.PullNever {
		return "", fmt.Errorf("image %s is not present on this node and its pull policy is Never", image)
	}
	_, root, err := c.remote(ctx, image)
	return root, err
}

// Root returns the directory holding the image's extracted files, pulling
// and extracting it if needed.
func (c *ImageCache) Root(ctx context.Context, image string, policy corev1.PullPolicy) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refs == nil {
		c.refs = map[string]string{}
	}
	if root, ok := c.refs[image]; ok && policy != corev1.PullAlways {
		return root, nil
	}
	if policy == corev1.PullNever {
		return "", fmt.Errorf("image %s is not present on this node and its pull policy is Never", image)
	}
	img, root, err := c.remote(ctx, image)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(root); err == nil {
		c.refs[image] = root
		return root, nil
	}
	dir := filepath.Dir(root)
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", fmt.Errorf("creating the image cache: %w", err)
	}
	flat := mutate.Extract(img)
	defer flat.Close()
	if err := extract(flat, filepath.Join(tmp, "rootfs")); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("extracting %s: %w", image, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("extracting %s: %w", image, err)
	}
	c.refs[image] = root
	return root, nil
}

// remote reads the image's manifest (not its layers) and names the
// directory of its files by its digest.
func (c *ImageCache) remote(ctx context.Context, image string) (v1.Image, string, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return nil, "", fmt.Errorf("image reference %q: %w", image, err)
	}
	img, err := remote.Image(ref, remote.WithContext(ctx))
	if err != nil {
		return nil, "", fmt.Errorf("pulling %s: %w", image, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, "", fmt.Errorf("reading the digest of %s: %w", image, err)
	}
	return img, filepath.Join(c.Dir, digest.Algorithm+"-"+digest.Hex, "rootfs"), nil
}

// extract writes the regular files and directories of a tar stream under
// root, refusing any path that would leave root.
func extract(r io.Reader, root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel := filepath.Clean("/" + hdr.Name)
		if rel == "/" {
			continue
		}
		target := filepath.Join(root, rel)
		if !strings.HasPrefix(target, root+string(filepath.Separator)) {
			return fmt.Errorf("entry %q leaves the image root", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
