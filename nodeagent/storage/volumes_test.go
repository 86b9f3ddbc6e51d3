package storage

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/failure"
)

// pushDisk serves an image holding /disk/disk.img with content in a
// registry on loopback, and returns its reference.
func pushDisk(t *testing.T, content []byte) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	var buf strings.Builder
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "disk/", Typeflag: tar.TypeDir, Mode: 0o755})
	_ = tw.WriteHeader(&tar.Header{Name: "disk/disk.img", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content))})
	_, _ = tw.Write(content)
	_ = tw.Close()
	layer, err := tarball.LayerFromReader(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	ref := u.Host + "/guest/disk:1"
	tag, _ := name.ParseReference(ref)
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

// testCache is a cache that may pull from the loopback registry of ref.
func testCache(t *testing.T, ref string) *ImageCache {
	host, _, _ := strings.Cut(ref, "/")
	return &ImageCache{Dir: filepath.Join(t.TempDir(), "images"), Registries: RegistryPolicy{Allowed: []string{host}}}
}

func TestResolveWritesNothingAndPullAgrees(t *testing.T) {
	ref := pushDisk(t, []byte("raw disk"))
	cache := testCache(t, ref)
	vs := &Volumes{Images: cache}
	resolved, err := vs.ResolveImage(context.Background(), ref, corev1.PullIfNotPresent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cache.Dir); !os.IsNotExist(err) {
		t.Errorf("Resolve wrote to the cache: %v", err)
	}
	pulled, err := vs.PullImage(context.Background(), ref, corev1.PullIfNotPresent)
	if err != nil {
		t.Fatal(err)
	}
	if pulled != resolved {
		t.Errorf("pulled into %s, resolved %s", pulled, resolved)
	}
	if got, _ := os.ReadFile(filepath.Join(pulled, "disk", "disk.img")); string(got) != "raw disk" {
		t.Errorf("extracted disk %q", got)
	}
	if _, err := vs.ResolveImage(context.Background(), "127.0.0.1:1/absent:1", corev1.PullNever); err == nil {
		t.Error("an absent image with pull policy Never resolved")
	}
}

func TestPrepareMakesEachVolumeAndTellsFormats(t *testing.T) {
	qcow := qcow2Header(3, 0, 0)
	ref := pushDisk(t, qcow)
	dir := t.TempDir()
	vs := &Volumes{Images: testCache(t, ref), FreeBytes: freeBytes(4 << 30)}
	pod := launcherPod(2 << 30)
	md := &domainspec.Metadata{Namespace: "ns", Name: "tiny", UID: "u1", Volumes: []domainspec.VolumeMetadata{
		{Name: "root", Kind: domainspec.VolumeContainerDisk, Image: ref},
		{Name: "scratch", Kind: domainspec.VolumeEmptyDisk, CapacityBytes: 1 << 30},
		{Name: "ci", Kind: domainspec.VolumeCloudInitNoCloud, UserData: "I2Nsb3VkLWNvbmZpZwo="},
	}}
	got, err := vs.Prepare(context.Background(), pod, md, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"disk-root.img": "qcow2", "disk-scratch.img": "raw", "disk-ci.img": "raw"}
	for file, f := range want {
		if got.Formats[file] != f {
			t.Errorf("format of %s = %q, want %q", file, got.Formats[file], f)
		}
	}
	if len(got.Verified) != 1 || got.Verified[0] != filepath.Join(dir, "disk-root.img") {
		t.Errorf("verified %v, want only the qcow2 containerDisk", got.Verified)
	}
	if fi, err := os.Stat(filepath.Join(dir, "disk-scratch.img")); err != nil || fi.Size() != 1<<30 {
		t.Errorf("emptyDisk: %v, %v", fi, err)
	}
	// A second Prepare keeps what the guest wrote.
	_ = os.WriteFile(filepath.Join(dir, "disk-scratch.img"), []byte("guest data"), 0o600)
	if _, err := vs.Prepare(context.Background(), pod, md, dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "disk-scratch.img")); string(b) != "guest data" {
		t.Errorf("a restart overwrote the guest's disk: %q", b)
	}
}

func TestPrepareRefusesABackedQcow2(t *testing.T) {
	ref := pushDisk(t, qcow2Header(3, 104, 0))
	vs := &Volumes{Images: testCache(t, ref), FreeBytes: freeBytes(1 << 30)}
	md := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{{Name: "root", Kind: domainspec.VolumeContainerDisk, Image: ref}}}
	if _, err := vs.Prepare(context.Background(), launcherPod(1<<30), md, t.TempDir()); !errors.Is(err, failure.ErrRefused) {
		t.Errorf("a qcow2 naming a backing file: %v, want ErrRefused", err)
	}
}

func TestCheckRefusesWhatPrepareCannotMake(t *testing.T) {
	for _, kind := range []string{domainspec.VolumePVC, domainspec.VolumeHostDisk, "somethingElse"} {
		md := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{{Name: "v", Kind: kind}}}
		if err := Check(launcherPod(1<<30), md); !errors.Is(err, failure.ErrUnsupported) || !strings.Contains(err.Error(), "volume v") {
			t.Errorf("%s: Check = %v, want ErrUnsupported naming the volume", kind, err)
		}
		if _, err := (&Volumes{FreeBytes: freeBytes(1 << 30)}).Prepare(context.Background(), launcherPod(1<<30), md, t.TempDir()); !errors.Is(err, failure.ErrUnsupported) {
			t.Errorf("%s: Prepare = %v, want ErrUnsupported", kind, err)
		}
	}
	ok := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{{Kind: domainspec.VolumeEmptyDisk}, {Kind: domainspec.VolumeContainerDisk}, {Kind: domainspec.VolumeCloudInitNoCloud}}}
	if err := Check(launcherPod(1<<30), ok); err != nil {
		t.Errorf("Check of supported volumes: %v", err)
	}
}
