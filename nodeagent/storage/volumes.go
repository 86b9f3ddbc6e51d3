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
	// when empty): cloud-init Secrets are read from the launcher Pod's
	// volumes there.
	KubeletRootDir string
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

// Prepare creates each volume's disk file in vmiDir (an emptyDisk as a
// sparse raw file, a containerDisk as a private copy of the image's disk,
// a cloudInitNoCloud volume as a cidata ISO) and finds its format by its
// content. Existing files are kept, so a restart reuses what the guest
// wrote.
func (vs *Volumes) Prepare(ctx context.Context, p *corev1.Pod, md *domainspec.Metadata, vmiDir string) (Prepared, error) {
	out := Prepared{Formats: map[string]string{}}
	for _, v := range md.Volumes {
		file := domainspec.DiskFile(v.Name)
		target := filepath.Join(vmiDir, file)
		switch v.Kind {
		case domainspec.VolumeEmptyDisk:
			if err := createSparse(target, v.CapacityBytes); err != nil {
				return Prepared{}, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		case domainspec.VolumeContainerDisk:
			if err := vs.copyContainerDisk(ctx, v, target); err != nil {
				return Prepared{}, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		case domainspec.VolumeCloudInitNoCloud:
			if err := vs.writeNoCloud(p, md, v, target); err != nil {
				return Prepared{}, fmt.Errorf("volume %s: cloud-init NoCloud data: %w", v.Name, err)
			}
		default:
			return Prepared{}, fmt.Errorf("volume %s: %s volumes are %w", v.Name, v.Kind, failure.ErrUnsupported)
		}
		format, err := diskFormat(target)
		if err != nil {
			return Prepared{}, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		if format == "qcow2" {
			if err := checkQcow2(target); err != nil {
				return Prepared{}, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			out.Verified = append(out.Verified, target)
		}
		out.Formats[file] = format
	}
	return out, nil
}

// Check refuses, before anything is written, the volumes Prepare cannot
// make.
func Check(md *domainspec.Metadata) error {
	for _, v := range md.Volumes {
		switch v.Kind {
		case domainspec.VolumeEmptyDisk, domainspec.VolumeContainerDisk, domainspec.VolumeCloudInitNoCloud:
		default:
			return fmt.Errorf("volume %s: %s volumes are %w", v.Name, v.Kind, failure.ErrUnsupported)
		}
	}
	return nil
}

func createSparse(path string, size int64) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
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

// copyContainerDisk copies the disk image of a containerDisk (its path, or
// the only file under /disk) to target.
func (vs *Volumes) copyContainerDisk(ctx context.Context, v domainspec.VolumeMetadata, target string) error {
	if _, err := os.Stat(target); err == nil {
		return nil
	}
	root, err := vs.Images.Root(ctx, v.Image, corev1.PullPolicy(v.PullPolicy))
	if err != nil {
		return err
	}
	src := v.Path
	if src == "" {
		entries, err := os.ReadDir(filepath.Join(root, "disk"))
		if err != nil || len(entries) != 1 || !entries[0].Type().IsRegular() {
			return fmt.Errorf("image %s: want exactly one file under /disk, or set containerDisk.path", v.Image)
		}
		src = "/disk/" + entries[0].Name()
	}
	in, err := os.Open(filepath.Join(root, filepath.Clean(src)))
	if err != nil {
		return fmt.Errorf("image %s: %w", v.Image, err)
	}
	defer in.Close()
	tmp := target + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying the disk of %s: %w", v.Image, err)
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
