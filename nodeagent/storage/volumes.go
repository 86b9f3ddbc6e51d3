package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

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
	// Host finds the persistentVolumeClaims and hostDisks; nil refuses
	// them (Unsupported).
	Host *HostVolumes
}

// Prepared is what preparing the volumes found out: the node facts that
// domainspec.Localize and the allowlist need.
type Prepared struct {
	// Formats is each disk file's format, by bare file name
	// (domainspec.NodeFacts.DiskFormats): decided when the file was made,
	// and read from RecordFile since.
	Formats map[string]string
	// Backings are the backing files of containerDisks' overlays, by
	// bare file name (domainspec.NodeFacts.DiskBackings).
	Backings map[string]domainspec.DiskBacking
	// Verified are the qcow2 images whose headers were checked
	// (allowlist.Options.VerifiedImages): the overlays, and the qcow2
	// images backing them.
	Verified []string
	// ReadOnlyDirs are the roots of the images backing the overlays, in
	// the image cache (allowlist.Options.ReadOnlyDirs).
	ReadOnlyDirs []string
	// DiskFiles and DiskDevices are the disks of persistentVolumeClaims
	// and hostDisks, on the host (domainspec.NodeFacts.DiskFiles,
	// DiskDevices), by bare file name.
	DiskFiles, DiskDevices map[string]string
	// VolumeDisks are their paths (allowlist.Options.VolumeDisks), and
	// VolumeIDs the files they were when the agent opened them: what
	// QEMU must have open (VerifyOpen).
	VolumeDisks []string
	VolumeIDs   map[string]FileID
}

// Prepare creates each volume's disk file in vmiDir (Dir: an emptyDisk as
// a sparse raw file, a containerDisk as a qcow2 overlay over the image's
// disk in the image cache, which is never copied nor written, a
// cloudInitNoCloud volume as a cidata ISO) and records its format
// (RecordFile). First it finds what each file may take and refuses
// (failure.ErrDiskQuota) files that would not fit the Pod's Budget or the
// node's free space, so nothing is written for them. Existing files are
// kept, so a restart reuses what the guest wrote, with the formats
// recorded when they were made.
func (vs *Volumes) Prepare(ctx context.Context, p *corev1.Pod, md *domainspec.Metadata, vmiDir string) (Prepared, error) {
	budget, err := Budget(p)
	if err != nil {
		return Prepared{}, err
	}
	if err := ensureDir(vmiDir); err != nil {
		return Prepared{}, err
	}
	recs, err := readRecords(vmiDir)
	if err != nil {
		return Prepared{}, err
	}
	plans := make([]plan, 0, len(md.Volumes))
	files := []file{serialLog()}
	for _, v := range md.Volumes {
		if onHost(v) {
			continue
		}
		pl, err := vs.planVolume(ctx, p, md, v, filepath.Join(vmiDir, domainspec.DiskFile(v.Name)), recs)
		if err != nil {
			return Prepared{}, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		plans = append(plans, pl)
		files = append(files, pl.file)
	}
	if err := vs.fit(budget, vmiDir, files); err != nil {
		return Prepared{}, err
	}
	// The decisions first, then the files: a file is never there
	// without its record.
	changed := false
	for _, pl := range plans {
		name := filepath.Base(pl.target)
		if old, ok := recs.Disks[name]; !ok || old != pl.record {
			recs.Disks[name], changed = pl.record, true
		}
	}
	if changed {
		if err := writeRecords(vmiDir, recs); err != nil {
			return Prepared{}, err
		}
	}
	out := Prepared{Formats: map[string]string{}, Backings: map[string]domainspec.DiskBacking{}}
	if err := vs.prepareOnHost(p, md, &out); err != nil {
		return Prepared{}, err
	}
	for _, pl := range plans {
		if !pl.exists {
			if err := pl.write(); err != nil {
				return Prepared{}, fmt.Errorf("volume %s: %w", pl.volume, err)
			}
		}
		rec := pl.record
		if rec.BackingFile != "" {
			if err := vs.checkBacked(pl.target, rec); err != nil {
				return Prepared{}, fmt.Errorf("volume %s: %w", pl.volume, err)
			}
			out.Verified = append(out.Verified, pl.target)
			if rec.BackingFormat == "qcow2" {
				out.Verified = append(out.Verified, rec.BackingFile)
			}
			out.Backings[filepath.Base(pl.target)] = domainspec.DiskBacking{File: rec.BackingFile, Format: rec.BackingFormat}
			if rec.ImageRoot != "" && !slices.Contains(out.ReadOnlyDirs, rec.ImageRoot) {
				out.ReadOnlyDirs = append(out.ReadOnlyDirs, rec.ImageRoot)
			}
			if b := pl.backing; b != nil {
				if out.VolumeIDs == nil {
					out.VolumeIDs = map[string]FileID{}
				}
				out.VolumeDisks = append(out.VolumeDisks, b.path)
				out.VolumeIDs[b.path] = b.id
			}
		}
		out.Formats[filepath.Base(pl.target)] = rec.Format
	}
	// Last, once everything fits: the serial log, readable by the launcher.
	if err := ensureSerialLog(vmiDir); err != nil {
		return Prepared{}, err
	}
	return out, nil
}

// checkBacked checks a containerDisk's overlay and its backing image
// before each define: the overlay is still the one the node agent made
// (QEMU writes it), and the backing image still names no other file.
func (vs *Volumes) checkBacked(target string, rec diskRecord) error {
	if err := checkOverlay(target, rec.BackingFile); err != nil {
		return err
	}
	if rec.BackingFormat == "qcow2" {
		return checkQcow2(rec.BackingFile)
	}
	return nil
}

// plan is how one volume's file is made, once it is known to fit.
type plan struct {
	file
	volume, target string
	// record is what is decided about the file: recorded before, or now.
	record diskRecord
	// write makes the file (when it does not exist).
	write func() error
	// backing is the claim's disk an ephemeral volume's overlay is over,
	// which QEMU must hold (Prepared.VolumeIDs).
	backing *volumeDisk
}

// planVolume finds what volume v's file at target may take and how to
// make it, writing nothing in the VMI's directory (a containerDisk's
// image is pulled into the image cache). A file made before has its
// record in recs.
func (vs *Volumes) planVolume(ctx context.Context, p *corev1.Pod, md *domainspec.Metadata, v domainspec.VolumeMetadata, target string, recs diskRecords) (plan, error) {
	pl := plan{volume: v.Name, target: target}
	pl.what = "volume " + v.Name + " (" + v.Kind + ")"
	if fi, err := os.Lstat(target); err == nil {
		if !fi.Mode().IsRegular() {
			return plan{}, fmt.Errorf("%w: %s is not a regular file", failure.ErrRefused, target)
		}
		pl.exists = true
	}
	rec, recorded := recs.Disks[filepath.Base(target)]
	switch v.Kind {
	case domainspec.VolumeEmptyDisk:
		if v.CapacityBytes < 0 {
			return plan{}, fmt.Errorf("capacity %d bytes", v.CapacityBytes)
		}
		// Raw by construction (a node agent before RecordFile made
		// emptyDisks raw too).
		pl.record = diskRecord{Format: "raw"}
		pl.bytes = v.CapacityBytes
		pl.write = func() error { return createSparse(target, v.CapacityBytes) }
	case domainspec.VolumeContainerDisk:
		if err := vs.planContainerDisk(ctx, &pl, v, rec, recorded); err != nil {
			return plan{}, err
		}
	case domainspec.VolumeEphemeral:
		if err := vs.planEphemeral(p, &pl, v, rec, recorded); err != nil {
			return plan{}, err
		}
	case domainspec.VolumeCloudInitNoCloud:
		pl.record = diskRecord{Format: "raw"} // an ISO, by construction
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
	if recorded && rec.Format != pl.record.Format {
		return plan{}, fmt.Errorf("%w: %s was made %s, and a %s volume is %s", failure.ErrRefused, target, rec.Format, v.Kind, pl.record.Format)
	}
	return pl, nil
}

// planContainerDisk plans a containerDisk's overlay: over the image's
// disk in the image cache, pulled now, the first time; over the image
// recorded then, every time after (pulled again by digest should the
// cache have lost it), whatever the image's tag names now.
func (vs *Volumes) planContainerDisk(ctx context.Context, pl *plan, v domainspec.VolumeMetadata, rec diskRecord, recorded bool) error {
	pl.what = "volume " + v.Name + " (containerDisk overlay over " + v.Image + ")"
	if !recorded {
		if pl.exists {
			return fmt.Errorf("%w: %s was made by a node agent that recorded nothing about it (a copy of the image, whose format the guest's writes may have changed): delete the VMI to start it again", failure.ErrRefused, pl.target)
		}
		var err error
		if rec, err = vs.backingRecord(ctx, v); err != nil {
			return err
		}
	} else if err := vs.ensureBacking(ctx, rec); err != nil {
		return err
	}
	if rec.Format != "qcow2" || rec.BackingFile == "" || (rec.BackingFormat != "raw" && rec.BackingFormat != "qcow2") {
		return fmt.Errorf("%w: the record of %s is not a containerDisk overlay's: %+v", failure.ErrRefused, pl.target, rec)
	}
	// From now on the image cache keeps the image while the VMI's
	// directory exists (a VMI refused below keeps it until its Pod goes).
	if err := vs.Images.Use(rec.ImageRoot, filepath.Dir(pl.target)); err != nil {
		return err
	}
	pl.record = rec
	pl.bytes = overlayMaxBytes(rec.VirtualBytes)
	target := pl.target
	pl.write = func() error { return writeOverlay(target, rec.BackingFile, rec.BackingFormat, rec.VirtualBytes) }
	return nil
}

// planEphemeral plans an ephemeral volume's overlay: over its claim's
// disk.img (raw, never written), where the kubelet mounted the claim,
// opened following no symbolic link. A restart finds the same file or
// refuses: the overlay names its backing file.
func (vs *Volumes) planEphemeral(p *corev1.Pod, pl *plan, v domainspec.VolumeMetadata, rec diskRecord, recorded bool) error {
	if vs.Host == nil {
		return fmt.Errorf("ephemeral volumes are %w on this node agent", failure.ErrUnsupported)
	}
	if blockClaim(p, v.Name) {
		return fmt.Errorf("an ephemeral volume on a block-mode claim is %w: its disk must be a claim's disk.img", failure.ErrUnsupported)
	}
	d, err := vs.Host.claimFile(p, v)
	if err != nil {
		return err
	}
	fi, err := os.Stat(filepath.Join(vs.Host.rootOf(d.path), d.path))
	if err != nil {
		return fmt.Errorf("persistentVolumeClaim %s: %w", v.ClaimName, err)
	}
	if recorded && (rec.BackingFile != d.path || rec.BackingFormat != "raw") {
		return fmt.Errorf("%w: %s was made over %s, and the claim's disk is now %s", failure.ErrRefused, pl.target, rec.BackingFile, d.path)
	}
	pl.what = "volume " + v.Name + " (ephemeral overlay over claim " + v.ClaimName + ")"
	pl.record = diskRecord{Format: "qcow2", BackingFile: d.path, BackingFormat: "raw", VirtualBytes: fi.Size()}
	pl.backing = &d
	pl.bytes = overlayMaxBytes(fi.Size())
	target := pl.target
	pl.write = func() error { return writeOverlay(target, d.path, "raw", fi.Size()) }
	return nil
}

// backingRecord pulls a containerDisk's image and decides, once, what
// backs its overlay: the image's disk in the cache, by the format its
// magic says (a qcow2 image must name no other file), and its virtual
// size.
func (vs *Volumes) backingRecord(ctx context.Context, v domainspec.VolumeMetadata) (diskRecord, error) {
	root, src, err := vs.containerDiskSource(ctx, v)
	if err != nil {
		return diskRecord{}, err
	}
	format, err := diskFormat(src)
	if err != nil {
		return diskRecord{}, fmt.Errorf("image %s: %w", v.Image, err)
	}
	virtual, err := virtualBytes(src, format)
	if err != nil {
		return diskRecord{}, fmt.Errorf("image %s: %w", v.Image, err)
	}
	ref, err := vs.Images.DigestRef(v.Image, root)
	if err != nil {
		return diskRecord{}, err
	}
	return diskRecord{Format: "qcow2", BackingFile: src, BackingFormat: format, ImageRoot: root, Image: ref, VirtualBytes: virtual}, nil
}

// ensureBacking makes sure the recorded backing image is in the cache,
// where it was: pulled again by digest if the cache lost it.
func (vs *Volumes) ensureBacking(ctx context.Context, rec diskRecord) error {
	if !strings.HasPrefix(rec.BackingFile, rec.ImageRoot+string(filepath.Separator)) {
		return fmt.Errorf("%w: the recorded backing file %s is not in its image's root %s", failure.ErrRefused, rec.BackingFile, rec.ImageRoot)
	}
	if _, err := vs.Images.DigestRef(rec.Image, rec.ImageRoot); err != nil {
		return fmt.Errorf("%w: the recorded image root %s: %v", failure.ErrRefused, rec.ImageRoot, err)
	}
	if fi, err := os.Lstat(rec.BackingFile); err == nil && fi.Mode().IsRegular() {
		return nil
	}
	root, err := vs.Images.Root(ctx, rec.Image, corev1.PullIfNotPresent)
	if err != nil {
		return err
	}
	if root != rec.ImageRoot {
		return fmt.Errorf("%w: image %s is at %s, not at %s where the overlay's backing file was", failure.ErrRefused, rec.Image, root, rec.ImageRoot)
	}
	if fi, err := os.Lstat(rec.BackingFile); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: image %s has no regular file %s", failure.ErrRefused, rec.Image, rec.BackingFile)
	}
	return nil
}

// onHost reports whether v's disk is not a file of the VMI's own but a
// volume's on the host (HostVolumes).
func onHost(v domainspec.VolumeMetadata) bool {
	return v.Kind == domainspec.VolumePVC || v.Kind == domainspec.VolumeHostDisk
}

// prepareOnHost finds (and, where they are made, makes) the disks of the
// persistentVolumeClaims and hostDisks: raw, by construction, so no
// header of theirs is ever read, whatever the guest writes.
func (vs *Volumes) prepareOnHost(p *corev1.Pod, md *domainspec.Metadata, out *Prepared) error {
	for _, v := range md.Volumes {
		if !onHost(v) {
			continue
		}
		if vs.Host == nil {
			return fmt.Errorf("volume %s: %s volumes are %w on this node agent", v.Name, v.Kind, failure.ErrUnsupported)
		}
		var d volumeDisk
		var err error
		switch {
		case v.Kind == domainspec.VolumeHostDisk:
			d, err = vs.Host.hostDisk(v)
		case blockClaim(p, v.Name):
			d, err = vs.Host.claimDevice(p, v)
		default:
			d, err = vs.Host.claimFile(p, v)
		}
		if err != nil {
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
		name := domainspec.DiskFile(v.Name)
		if d.block {
			if out.DiskDevices == nil {
				out.DiskDevices = map[string]string{}
			}
			out.DiskDevices[name] = d.path
		} else {
			if out.DiskFiles == nil {
				out.DiskFiles = map[string]string{}
			}
			out.DiskFiles[name] = d.path
		}
		if out.VolumeIDs == nil {
			out.VolumeIDs = map[string]FileID{}
		}
		out.VolumeDisks = append(out.VolumeDisks, d.path)
		out.VolumeIDs[d.path] = d.id
	}
	return nil
}

// blockClaim reports whether the launcher Pod gets the claim volume as a
// device (launcher/pod renders a block-mode claim so).
func blockClaim(p *corev1.Pod, volume string) bool {
	for _, c := range p.Spec.Containers {
		if c.Name != domainspec.LauncherContainerName {
			continue
		}
		for _, d := range c.VolumeDevices {
			if d.Name == volume {
				return true
			}
		}
	}
	return false
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
		case domainspec.VolumeContainerDisk, domainspec.VolumeCloudInitNoCloud, domainspec.VolumePVC, domainspec.VolumeHostDisk, domainspec.VolumeEphemeral:
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

// containerDiskSource pulls a containerDisk's image and returns the root
// of its files and its disk image (its path, or the only file under
// /disk) in the image cache.
func (vs *Volumes) containerDiskSource(ctx context.Context, v domainspec.VolumeMetadata) (root, disk string, err error) {
	root, err = vs.Images.Root(ctx, v.Image, corev1.PullPolicy(v.PullPolicy))
	if err != nil {
		return "", "", err
	}
	src := v.Path
	if src == "" {
		entries, err := os.ReadDir(filepath.Join(root, "disk"))
		if err != nil || len(entries) != 1 || !entries[0].Type().IsRegular() {
			return "", "", fmt.Errorf("image %s: want exactly one file under /disk, or set containerDisk.path", v.Image)
		}
		src = "/disk/" + entries[0].Name()
	}
	path := filepath.Join(root, filepath.Clean("/"+src))
	fi, err := os.Lstat(path)
	if err != nil {
		return "", "", fmt.Errorf("image %s: %w", v.Image, err)
	}
	if !fi.Mode().IsRegular() {
		return "", "", fmt.Errorf("image %s: %s is not a regular file", v.Image, src)
	}
	return root, path, nil
}

// virtualBytes is the size of the disk a guest sees in the image file at
// path of format: a raw file's size, a qcow2 image's virtual size (its
// header checked to name no other file).
func virtualBytes(path, format string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if format == "raw" {
		return fi.Size(), nil
	}
	header := make([]byte, qcow2OffIncompatible+8)
	n, _ := io.ReadFull(f, header)
	if err := checkQcow2Header(header[:n]); err != nil {
		return 0, err
	}
	return int64(min(binary.BigEndian.Uint64(header[qcow2OffSize:]), 1<<62)), nil
}

// diskFormat tells qcow2 from raw by qcow2's magic, not by the image's
// name. It reads only images in the image cache, which nothing writes and
// whose digest names them, so what it finds holds for good: never a
// file a guest writes (RecordFile).
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
