package storage

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/failure"
	corev1 "k8s.io/api/core/v1"
)

// readISO returns the label and the files (by name) of an ISO image.
func readISO(t *testing.T, path string) (string, map[string]string) {
	t.Helper()
	d, err := diskfs.Open(path, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fs, err := d.GetFilesystem(0)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := fs.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		f, err := fs.OpenFile(e.Name(), os.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	// go-diskfs pads the identifier with NULs, which Linux (blkid) ends
	// the label at; the e2e guest finds the disk by that label.
	return strings.TrimRight(fs.Label(), "\x00 "), files
}

// writeNoCloud is what Prepare does for a cloudInitNoCloud volume whose
// ISO is not there yet.
func (vs *Volumes) writeNoCloud(p *corev1.Pod, md *domainspec.Metadata, v domainspec.VolumeMetadata, target string) error {
	v.Kind = domainspec.VolumeCloudInitNoCloud
	pl, err := vs.planVolume(context.Background(), p, md, v, target, diskRecords{})
	if err != nil {
		return err
	}
	if pl.exists {
		return nil
	}
	return pl.write()
}

func TestWriteNoCloud(t *testing.T) {
	md := &domainspec.Metadata{Namespace: "prod", Name: "web-1", UID: "6f1c2f0e-0000-4000-8000-000000000001"}
	userData := "#cloud-config\npassword: fedora\n"
	gz := []byte{0x1f, 0x8b, 0x08, 0x00, 0xff, 0x00} // binary user data survives
	for _, c := range []struct {
		name  string
		v     domainspec.VolumeMetadata
		files map[string]string
	}{
		{"user data", domainspec.VolumeMetadata{UserData: base64.StdEncoding.EncodeToString([]byte(userData))}, map[string]string{
			"meta-data": "instance-id: " + md.UID + "\nlocal-hostname: web-1\n",
			"user-data": userData,
		}},
		{"binary user data and network config", domainspec.VolumeMetadata{
			UserData:    base64.StdEncoding.EncodeToString(gz),
			NetworkData: base64.StdEncoding.EncodeToString([]byte("version: 2\n")),
		}, map[string]string{
			"meta-data":      "instance-id: " + md.UID + "\nlocal-hostname: web-1\n",
			"user-data":      string(gz),
			"network-config": "version: 2\n",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, "cloudinit.img")
			if err := (&Volumes{}).writeNoCloud(&corev1.Pod{}, md, c.v, target); err != nil {
				t.Fatal(err)
			}
			label, files := readISO(t, target)
			if label != NoCloudVolumeLabel {
				t.Errorf("label %q, want %q", label, NoCloudVolumeLabel)
			}
			var names []string
			for n := range files {
				names = append(names, n)
			}
			sort.Strings(names)
			if len(files) != len(c.files) {
				t.Errorf("files %v, want %d", names, len(c.files))
			}
			for name, want := range c.files {
				if files[name] != want {
					t.Errorf("%s = %q, want %q (files %v)", name, files[name], want, names)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".iso-*")); len(left) > 0 {
				t.Errorf("workspace left behind: %v", left)
			}
			// A second call keeps the disk the guest may have seen.
			before, _ := os.Stat(target)
			if err := (&Volumes{}).writeNoCloud(&corev1.Pod{}, md, domainspec.VolumeMetadata{UserData: "b3RoZXI="}, target); err != nil {
				t.Fatal(err)
			}
			if after, _ := os.Stat(target); !after.ModTime().Equal(before.ModTime()) {
				t.Error("the existing image was rewritten")
			}
		})
	}
}

func TestWriteNoCloudFromSecret(t *testing.T) {
	md := &domainspec.Metadata{Name: "web-1", UID: "u"}
	kubelet := t.TempDir()
	r := &Volumes{KubeletRootDir: kubelet}
	p := &corev1.Pod{}
	p.UID = "pod-uid"
	p.Spec.Volumes = []corev1.Volume{{Name: "ci", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "my-ci"}}}}
	v := domainspec.VolumeMetadata{Name: "ci", UserDataSecret: "my-ci"}
	secretDir := filepath.Join(kubelet, "pods", "pod-uid", "volumes", "kubernetes.io~secret", "ci")
	if err := os.MkdirAll(secretDir, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	if err := r.writeNoCloud(p, md, v, filepath.Join(dir, "a.img")); err == nil || !strings.Contains(err.Error(), `Secret "my-ci" has no key "userdata"`) {
		t.Errorf("missing key: %v", err)
	}
	if err := os.WriteFile(filepath.Join(secretDir, "userData"), []byte("#cloud-config\nfrom: secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "b.img")
	if err := r.writeNoCloud(p, md, v, target); err != nil {
		t.Fatal(err)
	}
	if _, files := readISO(t, target); files["user-data"] != "#cloud-config\nfrom: secret\n" {
		t.Errorf("user-data %q", files["user-data"])
	}

	other := p.DeepCopy()
	other.Spec.Volumes[0].Secret.SecretName = "someone-elses"
	if err := r.writeNoCloud(other, md, v, filepath.Join(dir, "c.img")); !errors.Is(err, failure.ErrRefused) {
		t.Errorf("a Pod not mounting the Secret the signed metadata names: %v, want failure.ErrRefused", err)
	}
}

func TestWriteNoCloudRefusesBadBase64(t *testing.T) {
	md := &domainspec.Metadata{Name: "web-1", UID: "u"}
	err := (&Volumes{}).writeNoCloud(&corev1.Pod{}, md, domainspec.VolumeMetadata{UserData: "not base64!"}, filepath.Join(t.TempDir(), "b.img"))
	if err == nil || !strings.Contains(err.Error(), "user-data") {
		t.Errorf("bad base64: %v, want an error naming user-data", err)
	}
}
