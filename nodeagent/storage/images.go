package storage

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
)

// ImageCache pulls guest images and extracts their files once per image
// digest under Dir/<algorithm>-<hex>/rootfs, read-only (mode 0444): the
// files are shared by every VMI of the digest on the node, kernels and
// the backing files of containerDisk overlays.
//
// Only regular files and directories are extracted: a symlink or hard link
// in a guest image could point the domain at a host file, so they are
// skipped, as are device nodes.
//
// A pull of one image never waits on another's: pulls of the same
// reference share one flight, others run side by side. Each has a
// deadline, and the bytes an image may take are capped. What a registry
// says in an error is logged by the caller, never returned (it could be a
// server on the node answering with what it holds): errors name the image
// and a class (HTTP status, timeout, refused address, too large).
type ImageCache struct {
	Dir string
	// Registries is what the cache may connect to.
	Registries RegistryPolicy
	// PullTimeout bounds one pull, manifest to extracted files; 5 minutes
	// when zero.
	PullTimeout time.Duration
	// MaxImageBytes caps an image, compressed and extracted; 8 GiB when
	// zero.
	MaxImageBytes int64
	// MaxCacheBytes bounds the cache: after a pull, the least recently
	// used images are removed until it fits; 32 GiB when zero.
	MaxCacheBytes int64

	mu      sync.Mutex
	refs    map[string]string // image reference -> extracted root, for IfNotPresent
	flights singleflight.Group
}

// Resolve returns the directory that will hold the image's extracted
// files, without writing anything: from what this cache already pulled, or
// by reading the image's manifest from its registry. The node agent uses it
// to check a domain before any pull.
func (c *ImageCache) Resolve(ctx context.Context, image string, policy corev1.PullPolicy) (string, error) {
	if root, ok := c.cached(image, policy); ok {
		return root, nil
	}
	if policy == corev1.PullNever {
		return "", fmt.Errorf("image %s is not present on this node and its pull policy is Never", image)
	}
	ctx, cancel := context.WithTimeout(ctx, c.pullTimeout())
	defer cancel()
	_, root, err := c.remote(ctx, image)
	return root, err
}

// Root returns the directory holding the image's extracted files, pulling
// and extracting it if needed.
func (c *ImageCache) Root(ctx context.Context, image string, policy corev1.PullPolicy) (string, error) {
	if root, ok := c.cached(image, policy); ok {
		c.touch(root)
		return root, nil
	}
	if policy == corev1.PullNever {
		return "", fmt.Errorf("image %s is not present on this node and its pull policy is Never", image)
	}
	// The flight runs on its own deadline, not its first caller's
	// context: a caller that gives up does not fail the others.
	ch := c.flights.DoChan(image, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.pullTimeout())
		defer cancel()
		return c.pull(ctx, image)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("pulling %s: %w", image, ctx.Err())
	}
}

func (c *ImageCache) cached(image string, policy corev1.PullPolicy) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	root, ok := c.refs[image]
	return root, ok && policy != corev1.PullAlways
}

func (c *ImageCache) pull(ctx context.Context, image string) (string, error) {
	img, root, err := c.remote(ctx, image)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(root); err != nil {
		if err := c.extractImage(ctx, image, img, root); err != nil {
			return "", err
		}
	}
	c.mu.Lock()
	if c.refs == nil {
		c.refs = map[string]string{}
	}
	c.refs[image] = root
	c.mu.Unlock()
	c.touch(root)
	c.prune(root)
	return root, nil
}

func (c *ImageCache) extractImage(ctx context.Context, image string, img v1.Image, root string) error {
	max := c.maxImageBytes()
	layers, err := img.Layers()
	if err != nil {
		return pullError(image, err)
	}
	var compressed int64
	for _, l := range layers {
		size, err := l.Size()
		if err != nil {
			return pullError(image, err)
		}
		compressed += size
	}
	if compressed > max {
		return fmt.Errorf("pulling %s: its layers are %d bytes, more than the %d this node takes: %w", image, compressed, max, ErrImageTooLarge)
	}
	dir := filepath.Dir(root)
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("creating the image cache: %w", err)
	}
	flat := mutate.Extract(img)
	defer flat.Close()
	if err := extract(ctxReader{ctx, flat}, filepath.Join(tmp, "rootfs"), max); err != nil {
		os.RemoveAll(tmp)
		if errors.Is(err, ErrImageTooLarge) {
			return fmt.Errorf("extracting %s: %w", image, err)
		}
		return pullError(image, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("extracting %s: %w", image, err)
	}
	return nil
}

// remote reads the image's manifest (not its layers) and names the
// directory of its files by its digest.
func (c *ImageCache) remote(ctx context.Context, image string) (v1.Image, string, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return nil, "", fmt.Errorf("image reference %q: %w", image, err)
	}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithTransport(c.Registries.Transport()))
	if err != nil {
		return nil, "", pullError(image, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, "", pullError(image, err)
	}
	return img, filepath.Join(c.Dir, digest.Algorithm+"-"+digest.Hex, "rootfs"), nil
}

func (c *ImageCache) pullTimeout() time.Duration {
	if c.PullTimeout > 0 {
		return c.PullTimeout
	}
	return 5 * time.Minute
}

func (c *ImageCache) maxImageBytes() int64 {
	if c.MaxImageBytes > 0 {
		return c.MaxImageBytes
	}
	return 8 << 30
}

// ctxReader stops a read once its context is done, so an extraction
// stops at the pull's deadline.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// extract writes the regular files and directories of a tar stream under
// root, refusing any path that would leave root and more than max bytes.
func extract(r io.Reader, root string, max int64) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	var written int64
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
			// Read-only for everyone: a containerDisk's file backs the
			// overlays of every VMI of this digest, and nothing may write
			// it (see Volumes). Readable by all, so QEMU reads it as an
			// unprivileged user without libvirt handing it the file.
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o444)
			if err != nil {
				return err
			}
			if hdr.Size > max-written {
				f.Close()
				return fmt.Errorf("more than %d bytes: %w", max, ErrImageTooLarge)
			}
			n, err := io.Copy(f, io.LimitReader(tr, max-written))
			written += n
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// DigestRef is image (a reference by tag or digest) by the digest of its
// files at root, which this cache returned for it: what pulls the very
// same files again.
func (c *ImageCache) DigestRef(image, root string) (string, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", image, err)
	}
	dir := filepath.Base(filepath.Dir(root))
	algorithm, sum, ok := strings.Cut(dir, "-")
	if !ok || filepath.Base(root) != "rootfs" || filepath.Dir(filepath.Dir(root)) != filepath.Clean(c.Dir) {
		return "", fmt.Errorf("%s is not an image root of the cache %s", root, c.Dir)
	}
	d, err := name.NewDigest(ref.Context().Name() + "@" + algorithm + ":" + sum)
	if err != nil {
		return "", fmt.Errorf("image %s at %s: %w", image, root, err)
	}
	return d.String(), nil
}

// usersDir holds, beside an image's root, one file per VMI directory
// whose disks it backs, holding that directory's path: prune keeps an
// image while one of them exists. A VMI's directory is its launcher
// Pod's volume, which the kubelet removes with the Pod.
const usersDir = "users"

// Use marks the image at root as backing the disks in vmiDir, so that
// prune keeps it while vmiDir exists.
func (c *ImageCache) Use(root, vmiDir string) error {
	dir := filepath.Join(filepath.Dir(root), usersDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("marking the image %s in use: %w", root, err)
	}
	sum := sha256.Sum256([]byte(vmiDir))
	path := filepath.Join(dir, hex.EncodeToString(sum[:16]))
	if b, err := os.ReadFile(path); err == nil && string(b) == vmiDir {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(vmiDir), 0o644); err != nil {
		return fmt.Errorf("marking the image %s in use: %w", root, err)
	}
	return os.Rename(tmp, path)
}

// inUse reports whether the image in dir (Dir/<algorithm>-<hex>) backs
// the disks of a VMI directory that still exists, and forgets the
// directories that are gone.
func inUse(dir string) bool {
	users := filepath.Join(dir, usersDir)
	entries, err := os.ReadDir(users)
	if err != nil {
		return false
	}
	used := false
	for _, e := range entries {
		path := filepath.Join(users, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if _, err := os.Lstat(string(b)); err == nil {
			used = true
			continue
		}
		_ = os.Remove(path)
	}
	return used
}
