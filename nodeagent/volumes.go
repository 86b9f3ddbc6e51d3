package nodeagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/podvirt/podvirt/domainspec"
	corev1 "k8s.io/api/core/v1"
	"libvirt.org/go/libvirtxml"
)

// ErrUnsupported marks what this node agent cannot run yet; the VMI fails
// with the message instead of running without it.
var ErrUnsupported = errors.New("not supported by this node agent yet")

// prepareVolumes creates each volume's disk file in vmiDir (an emptyDisk
// as a sparse raw file, a containerDisk as a private copy of the image's
// disk, a cloudInitNoCloud volume as a cidata ISO) and sets each disk's
// driver format. It returns the qcow2 images whose headers it checked
// (allowlist.Options.VerifiedImages). Existing files are kept, so a
// restart reuses what the guest wrote.
func (r *Reconciler) prepareVolumes(ctx context.Context, p *corev1.Pod, md *domainspec.Metadata, dom *libvirtxml.Domain, vmiDir string) (verified []string, err error) {
	formats := map[string]string{}
	for _, v := range md.Volumes {
		target := filepath.Join(vmiDir, domainspec.DiskFile(v.Name))
		switch v.Kind {
		case domainspec.VolumeEmptyDisk:
			if err := createSparse(target, v.CapacityBytes); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		case domainspec.VolumeContainerDisk:
			if err := r.copyContainerDisk(ctx, v, target); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		case domainspec.VolumeCloudInitNoCloud:
			if err := r.writeNoCloud(p, md, v, target); err != nil {
				return nil, fmt.Errorf("volume %s: cloud-init NoCloud data: %w", v.Name, err)
			}
		default:
			return nil, fmt.Errorf("volume %s: %s volumes are %w", v.Name, v.Kind, ErrUnsupported)
		}
		format, err := diskFormat(target)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		if format == "qcow2" {
			if err := checkQcow2(target); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			verified = append(verified, target)
		}
		formats[filepath.Base(target)] = format
	}
	for i := range dom.Devices.Disks {
		d := &dom.Devices.Disks[i]
		if d.Source == nil || d.Source.File == nil {
			continue
		}
		if f, ok := formats[filepath.Base(d.Source.File.File)]; ok && d.Driver != nil {
			d.Driver.Type = f
			if f != "raw" {
				// No backing chain: libvirt then gives QEMU none, whatever
				// the header says (checkQcow2 refused those anyway).
				d.BackingStore = &libvirtxml.DomainDiskBackingStore{}
			}
		}
	}
	return verified, nil
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
func (r *Reconciler) copyContainerDisk(ctx context.Context, v domainspec.VolumeMetadata, target string) error {
	if _, err := os.Stat(target); err == nil {
		return nil
	}
	root, err := r.Images.Root(ctx, v.Image, corev1.PullPolicy(v.PullPolicy))
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
