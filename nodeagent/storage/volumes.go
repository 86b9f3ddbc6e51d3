package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/failure"
	corev1 "k8s.io/api/core/v1"
)

// DefaultKubeletRootDir is the kubelet's default --root-dir.
const DefaultKubeletRootDir = "/var/lib/kubelet"

// Volumes prepares the disk files of a VMI's volumes on the node.
type Volumes struct {
	// Images pulls containerDisks.
	Images *ImageCache
	// KubeletRootDir is the kubelet's --root-dir (DefaultKubeletRootDir
	// when empty), as the host sees it: the VMI's files are made in the
	// launcher Pod's state volume there (Dir), and cloud-init Secrets are
	// read from the Pod's volumes there.
	KubeletRootDir string
	// FreeBytes, when set, replaces statfs: the space left on the
	// filesystem of a directory.
	FreeBytes func(dir string) (int64, error)
}

// Prepared is what preparing the volumes found out: the node facts that
// domainspec.Localize and the allowlist need.
type Prepared struct {
	// Formats is each disk file's format, by bare file name
	// (domainspec.NodeFacts.DiskFormats).
	Formats map[string]string
	// Verified are the qcow2 images whose headers were checked
	// (allowlist.Options.VerifiedImages).
	Verified []string
}

// Prepare creates each volume's disk file in vmiDir (Dir: an emptyDisk as
// a sparse raw file, a containerDisk as a private copy of the image's
// disk, a cloudInitNoCloud volume as a cidata ISO) and finds its format by
// its content. First it finds what each file may take and refuses
// (failure.ErrDiskQuota) files that would not fit the Pod's Budget or the
// node's free space, so nothing is written for them. Existing files are
// kept, so a restart reuses what the guest wrote.
func (vs *Volumes) Prepare(ctx context.Context, p *corev1.Pod, md *domainspec.Metadata, vmiDir string) (Prepared, error) {
	budget, err := Budget(p)
	if err != nil {
		return Prepared{}, err
	}
	if err := ensureDir(vmiDir); err != nil {
		return Prepared{}, err
	}
	plans := make([]plan, 0, len(md.Volumes))
	files := []file{serialLog()}
	for _, v := range md.Volumes {
		pl, err := vs.planVolume(ctx, p, md, v, filepath.Join(vmiDir, domainspec.DiskFile(v.Name)))
		if err != nil {
			return Prepared{}, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		plans = append(plans, pl)
		files = append(files, pl.file)
	}
	if err := vs.fit(budget, vmiDir, files); err != nil {
		return Prepared{}, err
	}
	out := Prepared{Formats: map[string]string{}}
	for _, pl := range plans {
		if !pl.exists {
			if err := pl.write(); err != nil {
				return Prepared{}, fmt.Errorf("volume %s: %w", pl.volume, err)
			}
		}
		format, err := diskFormat(pl.target)
		if err != nil {
			return Prepared{}, fmt.Errorf("volume %s: %w", pl.volume, err)
		}
		if format == "qcow2" {
			if err := checkQcow2(pl.target); err != nil {
				return Prepared{}, fmt.Errorf("volume %s: %w", pl.volume, err)
			}
			out.Verified = append(out.Verified, pl.target)
		}
		out.Formats[filepath.Base(pl.target)] = format
	}
	// Last, once everything fits: the serial log, readable by the launcher.
	if err := ensureSerialLog(vmiDir); err != nil {
		return Prepared{}, err
	}
	return out, nil
}

// plan is how one volume's file is made, once it is known to fit.
type plan struct {
	file
	volume, target string
	// write makes the file (when it does not exist).
	write func() error
}

// planVolume finds what volume v's file at target may take and how to
// make it, writing nothing in the VMI's directory (a containerDisk's
// image is pulled into the image cache).
func (vs *Volumes) planVolume(ctx context.Context, p *corev1.Pod, md *domainspec.Metadata, v domainspec.VolumeMetadata, target string) (plan, error) {
	pl := plan{volume: v.Name, target: target}
	pl.what = "volume " + v.Name + " (" + v.Kind + ")"
	if fi, err := os.Lstat(target); err == nil {
		if !fi.Mode().IsRegular() {
			return plan{}, fmt.Errorf("%w: %s is not a regular file", failure.ErrRefused, target)
		}
		pl.exists = true
	}
	switch v.Kind {
	case domainspec.VolumeEmptyDisk:
		if v.CapacityBytes < 0 {
			return plan{}, fmt.Errorf("capacity %d bytes", v.CapacityBytes)
		}
		pl.bytes = v.CapacityBytes
		pl.write = func() error { return createSparse(target, v.CapacityBytes) }
	case domainspec.VolumeContainerDisk:
		src := target // a copy made before: its own bound
		var err error
		if !pl.exists {
			if src, err = vs.containerDiskSource(ctx, v); err != nil {
				return plan{}, err
			}
		}
		if pl.bytes, err = diskMaxBytes(src); err != nil {
			return plan{}, fmt.Errorf("image %s: %w", v.Image, err)
		}
		pl.what = "volume " + v.Name + " (containerDisk copy of " + v.Image + ")"
		pl.write = func() error { return copyFile(src, target) }
	case domainspec.VolumeCloudInitNoCloud:
		if pl.exists {
			// Kept: the instance-id does not change, so neither does the
			// disk.
			fi, err := os.Stat(target)
			if err != nil {
				return plan{}, err
			}
			pl.bytes = fi.Size()
			break
		}
		files, err := vs.noCloudFiles(p, md, v)
		if err != nil {
			return plan{}, fmt.Errorf("cloud-init NoCloud data: %w", err)
		}
		pl.bytes = isoBytes(files)
		pl.write = func() error { return WriteISO(target, NoCloudVolumeLabel, files) }
	default:
		return plan{}, fmt.Errorf("%s volumes are %w", v.Kind, failure.ErrUnsupported)
	}
	return pl, nil
}

// Check refuses, before anything is written or pulled, the volumes
// Prepare cannot make, and the VMIs whose emptyDisks alone (their
// capacity is in the signed metadata) would not fit their launcher Pod's
// Budget.
func Check(p *corev1.Pod, md *domainspec.Metadata) error {
	files := []file{serialLog()}
	for _, v := range md.Volumes {
		switch v.Kind {
		case domainspec.VolumeEmptyDisk:
			files = append(files, file{what: "volume " + v.Name + " (" + v.Kind + ")", bytes: v.CapacityBytes})
		case domainspec.VolumeContainerDisk, domainspec.VolumeCloudInitNoCloud:
		default:
			return fmt.Errorf("volume %s: %s volumes are %w", v.Name, v.Kind, failure.ErrUnsupported)
		}
	}
	budget, err := Budget(p)
	if err != nil {
		return err
	}
	var total int64
	for _, f := range files {
		if f.bytes < 0 {
			return fmt.Errorf("%s: capacity %d bytes", f.what, f.bytes)
		}
		if total = addBytes(total, f.bytes); total > budget {
			return quotaError(f, total, budget)
		}
	}
	return nil
}

func createSparse(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("sizing %s: %w", path, err)
	}
	return f.Close()
}

// containerDiskSource pulls a containerDisk's image and returns its disk
// image (its path, or the only file under /disk) in the image cache.
func (vs *Volumes) containerDiskSource(ctx context.Context, v domainspec.VolumeMetadata) (string, error) {
	root, err := vs.Images.Root(ctx, v.Image, corev1.PullPolicy(v.PullPolicy))
	if err != nil {
		return "", err
	}
	src := v.Path
	if src == "" {
		entries, err := os.ReadDir(filepath.Join(root, "disk"))
		if err != nil || len(entries) != 1 || !entries[0].Type().IsRegular() {
			return "", fmt.Errorf("image %s: want exactly one file under /disk, or set containerDisk.path", v.Image)
		}
		src = "/disk/" + entries[0].Name()
	}
	path := filepath.Join(root, filepath.Clean(src))
	fi, err := os.Lstat(path)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", v.Image, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("image %s: %s is not a regular file", v.Image, src)
	}
	return path, nil
}

// diskMaxBytes is what a disk file may grow to as the guest writes: a raw
// file never grows (the guest's disk is its size), a qcow2 file up to
// qcow2MaxBytes.
func diskMaxBytes(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	header := make([]byte, qcow2OffIncompatible+8)
	n, _ := io.ReadFull(f, header)
	if n < 4 || !bytes.Equal(header[:4], []byte{'Q', 'F', 'I', 0xfb}) {
		return fi.Size(), nil
	}
	return qcow2MaxBytes(header[:n], fi.Size())
}

// copyFile copies src (a containerDisk's image) to target, writing next
// to it and renaming, so target never holds half a disk.
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

// diskFormat tells qcow2 from raw by qcow2's magic, so the guest's data is
// never reinterpreted (a raw image claiming to be qcow2 is the risk, and
// that is why the format is not taken from the image's name).
func diskFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil {
		return "raw", nil // shorter than a header: raw
	}
	if bytes.Equal(magic, []byte{'Q', 'F', 'I', 0xfb}) {
		return "qcow2", nil
	}
	return "raw", nil
}

// ResolveImage says where the image's files will be, writing nothing
// (ImageCache.Resolve).
func (vs *Volumes) ResolveImage(ctx context.Context, image string, policy corev1.PullPolicy) (string, error) {
	return vs.Images.Resolve(ctx, image, policy)
}

// PullImage pulls and extracts the image (ImageCache.Root).
func (vs *Volumes) PullImage(ctx context.Context, image string, policy corev1.PullPolicy) (string, error) {
	return vs.Images.Root(ctx, image, policy)
}
