package storage

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/failure"
	corev1 "k8s.io/api/core/v1"
)

// NoCloudVolumeLabel is the filesystem label cloud-init's NoCloud data
// source looks for.
const NoCloudVolumeLabel = "cidata"

// noCloudFiles are the files of a cloudInitNoCloud volume's ISO (an ISO
// 9660 filesystem labelled cidata, see WriteISO): meta-data (instance-id:
// the VMI's UID, local-hostname: its name), user-data and, when given,
// network-config.
func (vs *Volumes) noCloudFiles(p *corev1.Pod, md *domainspec.Metadata, v domainspec.VolumeMetadata) (map[string][]byte, error) {
	files := map[string][]byte{
		"meta-data": fmt.Appendf(nil, "instance-id: %s\nlocal-hostname: %s\n", md.UID, md.Name),
	}
	for name, doc := range map[string]string{"user-data": v.UserData, "network-config": v.NetworkData} {
		if doc == "" && name != "user-data" {
			continue
		}
		data, err := base64.StdEncoding.DecodeString(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		files[name] = data
	}
	if v.UserDataSecret != "" {
		data, err := vs.secretUserData(p, v)
		if err != nil {
			return nil, err
		}
		files["user-data"] = data
	}
	return files, nil
}

// isoBytes is the size WriteISO makes an image of files.
func isoBytes(files map[string][]byte) int64 {
	size := int64(domainspec.ISOOverheadBytes)
	for _, data := range files {
		size += int64(len(data))
	}
	return size
}

// WriteISO writes an ISO 9660 image holding files (by name, at its root)
// with a volume label, and Rock Ridge and Joliet names (plain ISO 9660
// would turn user-data into USER_DAT). It writes next to path and renames,
// so path never holds half an image.
func WriteISO(path, label string, files map[string][]byte) error {
	// go-diskfs builds the image in a workspace directory, then writes it.
	work, err := os.MkdirTemp(filepath.Dir(path), ".iso-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	tmp := filepath.Join(work, "image.iso")
	d, err := diskfs.Create(tmp, isoBytes(files), diskfs.SectorSizeDefault)
	if err != nil {
		return fmt.Errorf("creating the image: %w", err)
	}
	d.LogicalBlocksize = 2048
	tree := filepath.Join(work, "tree")
	if err := os.Mkdir(tree, 0o700); err != nil {
		return err
	}
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{FSType: filesystem.TypeISO9660, VolumeLabel: label, WorkDir: tree})
	if err != nil {
		return fmt.Errorf("creating the filesystem: %w", err)
	}
	for name, data := range files {
		f, err := fs.OpenFile(name, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	iso, ok := fs.(*iso9660.FileSystem)
	if !ok {
		return fmt.Errorf("go-diskfs returned a %T, not an ISO 9660 filesystem", fs)
	}
	if err := iso.Finalize(iso9660.FinalizeOptions{RockRidge: true, Joliet: true, VolumeIdentifier: label}); err != nil {
		return fmt.Errorf("writing the image: %w", err)
	}
	if err := d.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// secretUserData reads the user data of a cloudInitNoCloud volume from its
// Secret, as the kubelet mounted it for the launcher Pod (the Pod volume
// named after the VMI volume; see launcher/pod). The key is "userdata", or
// "userData" as KubeVirt also accepts.
func (vs *Volumes) secretUserData(p *corev1.Pod, v domainspec.VolumeMetadata) ([]byte, error) {
	mounted := false
	for _, pv := range p.Spec.Volumes {
		if pv.Name == v.Name && pv.Secret != nil && pv.Secret.SecretName == v.UserDataSecret {
			mounted = true
		}
	}
	if !mounted {
		return nil, fmt.Errorf("%w: the launcher Pod does not mount Secret %q as volume %q", failure.ErrRefused, v.UserDataSecret, v.Name)
	}
	root := vs.KubeletRootDir
	if root == "" {
		root = DefaultKubeletRootDir
	}
	dir := filepath.Join(root, "pods", string(p.UID), "volumes", "kubernetes.io~secret", v.Name)
	for _, key := range []string{"userdata", "userData"} {
		data, err := os.ReadFile(filepath.Join(dir, key))
		if err == nil {
			return data, nil
		}
		if !os.IsNotExist(err) {
			return nil, fmt.Errorf("reading Secret %q: %w", v.UserDataSecret, err)
		}
	}
	return nil, fmt.Errorf("Secret %q has no key \"userdata\" (looked in %s)", v.UserDataSecret, dir)
}
