package nodeagent

import (
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"

	"github.com/podvirt/podvirt/launcher/domain"
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

func TestWriteNoCloud(t *testing.T) {
	md := &domain.Metadata{Namespace: "prod", Name: "web-1", UID: "6f1c2f0e-0000-4000-8000-000000000001"}
	userData := "#cloud-config\npassword: fedora\n"
	gz := []byte{0x1f, 0x8b, 0x08, 0x00, 0xff, 0x00} // binary user data survives
	for _, c := range []struct {
		name  string
		v     domain.VolumeMetadata
		files map[string]string
	}{
		{"user data", domain.VolumeMetadata{UserData: base64.StdEncoding.EncodeToString([]byte(userData))}, map[string]string{
			"meta-data": "instance-id: " + md.UID + "\nlocal-hostname: web-1\n",
			"user-data": userData,
		}},
		{"binary user data and network config", domain.VolumeMetadata{
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
			if err := writeNoCloud(md, c.v, target); err != nil {
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
			if left, _ := filepath.Glob(filepath.Join(dir, ".cidata-*")); len(left) > 0 {
				t.Errorf("workspace left behind: %v", left)
			}
			// A second call keeps the disk the guest may have seen.
			before, _ := os.Stat(target)
			if err := writeNoCloud(md, domain.VolumeMetadata{UserData: "b3RoZXI="}, target); err != nil {
				t.Fatal(err)
			}
			if after, _ := os.Stat(target); !after.ModTime().Equal(before.ModTime()) {
				t.Error("the existing image was rewritten")
			}
		})
	}
}

func TestWriteNoCloudRefuses(t *testing.T) {
	md := &domain.Metadata{Name: "web-1", UID: "u"}
	dir := t.TempDir()
	err := writeNoCloud(md, domain.VolumeMetadata{UserDataSecret: "cloud-init"}, filepath.Join(dir, "a.img"))
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `Secret "cloud-init"`) {
		t.Errorf("secretRef: %v, want ErrUnsupported naming the Secret", err)
	}
	if err := writeNoCloud(md, domain.VolumeMetadata{UserData: "not base64!"}, filepath.Join(dir, "b.img")); err == nil || !strings.Contains(err.Error(), "user-data") {
		t.Errorf("bad base64: %v, want an error naming user-data", err)
	}
}
