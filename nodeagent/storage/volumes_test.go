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
	"slices"
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
	return pushDiskTo(t, u.Host+"/guest/disk:1", content)
}

// pushDiskTo pushes an image holding /disk/disk.img with content as ref.
func pushDiskTo(t *testing.T, ref string, content []byte) string {
	t.Helper()
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
	cache := testCache(t, ref)
	vs := &Volumes{Images: cache, FreeBytes: freeBytes(4 << 30)}
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
	root, err := cache.Root(context.Background(), ref, corev1.PullIfNotPresent)
	if err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(root, "disk", "disk.img")
	overlay := filepath.Join(dir, "disk-root.img")
	if !slices.Equal(got.Verified, []string{overlay, image}) {
		t.Errorf("verified %v, want the overlay and the qcow2 image backing it", got.Verified)
	}
	if b := got.Backings["disk-root.img"]; b.File != image || b.Format != "qcow2" || len(got.Backings) != 1 {
		t.Errorf("backings %+v, want the root disk's over %s (qcow2)", got.Backings, image)
	}
	if !slices.Equal(got.ReadOnlyDirs, []string{root}) {
		t.Errorf("read-only dirs %v, want the image's root %s", got.ReadOnlyDirs, root)
	}
	if err := checkOverlay(overlay, image); err != nil {
		t.Error(err)
	}
	if fi, err := os.Stat(image); err != nil || fi.Mode().Perm() != 0o444 {
		t.Errorf("the cached image: %v, %v; want mode 0444 (shared, never written)", fi, err)
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

// A containerDisk's start costs a header, not a copy: the overlay is a few
// clusters whatever the image's size, and counts what it may grow to.
func TestContainerDiskIsAnOverlayNotACopy(t *testing.T) {
	ref := pushDisk(t, make([]byte, 8<<20))
	dir := t.TempDir()
	cache := testCache(t, ref)
	vs := &Volumes{Images: cache, FreeBytes: freeBytes(4 << 30)}
	md := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{{Name: "root", Kind: domainspec.VolumeContainerDisk, Image: ref}}}
	got, err := vs.Prepare(context.Background(), launcherPod(1<<30), md, dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "disk-root.img"))
	if err != nil || fi.Size() > 256<<10 {
		t.Fatalf("overlay %v, %v: want a header of at most 256 KiB", fi, err)
	}
	if b := got.Backings["disk-root.img"]; b.Format != "raw" || !strings.HasPrefix(b.File, cache.Dir+"/") {
		t.Errorf("backing %+v, want the raw image in the cache %s", b, cache.Dir)
	}
	if slices.Contains(got.Verified, got.Backings["disk-root.img"].File) {
		t.Error("a raw image among the verified qcow2 images")
	}
	// It counts what it may grow to: the image's 8 MiB and its tables.
	if _, err := vs.Prepare(context.Background(), launcherPod(8<<20+serialAllowance), md, t.TempDir()); !errors.Is(err, failure.ErrDiskQuota) {
		t.Errorf("an overlay that may grow past the Pod's storage: %v, want ErrDiskQuota", err)
	}
}

// A disk's format is decided once, when the node agent makes it, and
// recorded: a guest that writes a qcow2 header (naming a host file) into
// its raw disk still has a raw disk after a restart, and a restart reuses
// the image the overlay was made over, whatever its tag names now, without
// the registry.
func TestFormatsAreDecidedOnce(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	u, _ := url.Parse(srv.URL)
	ref := pushDiskTo(t, u.Host+"/guest/disk:1", []byte("raw image, version 1"))
	dir := t.TempDir()
	cache := testCache(t, ref)
	md := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{
		{Name: "root", Kind: domainspec.VolumeContainerDisk, Image: ref},
		{Name: "scratch", Kind: domainspec.VolumeEmptyDisk, CapacityBytes: 1 << 20},
	}}
	first, err := (&Volumes{Images: cache, FreeBytes: freeBytes(1 << 30)}).Prepare(context.Background(), launcherPod(1<<30), md, dir)
	if err != nil {
		t.Fatal(err)
	}
	// The guest writes a qcow2 header naming /etc/shadow into its raw disk.
	if err := os.WriteFile(filepath.Join(dir, "disk-scratch.img"), qcow2Header(3, 104, 0), 0o600); err != nil {
		t.Fatal(err)
	}
	// The tag moves; the registry goes away; the node agent restarts (a
	// new cache on the same directory, which remembers no reference).
	pushDiskTo(t, ref, []byte("raw image, version 2"))
	srv.Close()
	restarted := &Volumes{Images: &ImageCache{Dir: cache.Dir, Registries: cache.Registries}, FreeBytes: freeBytes(1 << 30)}
	again, err := restarted.Prepare(context.Background(), launcherPod(1<<30), md, dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Formats["disk-scratch.img"] != "raw" || again.Formats["disk-root.img"] != "qcow2" {
		t.Errorf("formats after a restart %v: want scratch raw (as made), root qcow2", again.Formats)
	}
	if slices.Contains(again.Verified, filepath.Join(dir, "disk-scratch.img")) {
		t.Error("the raw disk was read as qcow2")
	}
	if again.Backings["disk-root.img"] != first.Backings["disk-root.img"] {
		t.Errorf("backing after a restart %+v, want the one the overlay was made over %+v", again.Backings["disk-root.img"], first.Backings["disk-root.img"])
	}
	recs, err := readRecords(dir)
	if err != nil || recs.Disks["disk-scratch.img"].Format != "raw" || recs.Disks["disk-root.img"].BackingFormat != "raw" || !strings.Contains(recs.Disks["disk-root.img"].Image, "@sha256:") {
		t.Errorf("records %+v, %v", recs, err)
	}
}

// The image cache keeps an image that backs a VMI's overlay; should it be
// gone all the same, it is pulled again by digest, to the same place.
func TestBackingImageIsKeptAndPulledAgainByDigest(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	ref := pushDiskTo(t, u.Host+"/guest/disk:1", make([]byte, 40<<10))
	other := pushDiskTo(t, u.Host+"/guest/other:1", append(make([]byte, 40<<10), 1))
	dir := filepath.Join(t.TempDir(), "vmi")
	cache := testCache(t, ref)
	cache.MaxCacheBytes = 60 << 10
	vs := &Volumes{Images: cache, FreeBytes: freeBytes(1 << 30)}
	md := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{{Name: "root", Kind: domainspec.VolumeContainerDisk, Image: ref}}}
	prepared, err := vs.Prepare(context.Background(), launcherPod(1<<30), md, dir)
	if err != nil {
		t.Fatal(err)
	}
	backing := prepared.Backings["disk-root.img"].File
	// Another image past the bound: the one in use stays.
	if _, err := cache.Root(context.Background(), other, corev1.PullIfNotPresent); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(backing); err != nil {
		t.Fatalf("the cache pruned an image backing a VMI's disk: %v", err)
	}
	// Gone anyway (a node agent with another cache bound, a person): the
	// next define pulls it again, by digest, though its tag moved.
	pushDiskTo(t, ref, []byte("another image"))
	_ = os.RemoveAll(filepath.Dir(filepath.Dir(filepath.Dir(backing))))
	again, err := (&Volumes{Images: &ImageCache{Dir: cache.Dir, Registries: cache.Registries}, FreeBytes: freeBytes(1 << 30)}).Prepare(context.Background(), launcherPod(1<<30), md, dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Backings["disk-root.img"].File != backing {
		t.Errorf("backing %s, want %s", again.Backings["disk-root.img"].File, backing)
	}
	if b, err := os.ReadFile(backing); err != nil || len(b) != 40<<10 {
		t.Errorf("the image pulled again: %d bytes, %v", len(b), err)
	}
	// Once the VMI's directory is gone, so is the image's claim.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if inUse(filepath.Dir(filepath.Dir(filepath.Dir(backing)))) {
		t.Error("an image stays in use after its VMI's directory is gone")
	}
}

// A containerDisk file a node agent made before records existed (a copy,
// which its guest wrote) has no format anyone decided: refused, never
// probed.
func TestUnrecordedContainerDiskIsRefused(t *testing.T) {
	ref := pushDisk(t, []byte("raw disk"))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "disk-root.img"), qcow2Header(3, 0, 0), 0o600); err != nil {
		t.Fatal(err)
	}
	vs := &Volumes{Images: testCache(t, ref), FreeBytes: freeBytes(1 << 30)}
	md := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{{Name: "root", Kind: domainspec.VolumeContainerDisk, Image: ref}}}
	if _, err := vs.Prepare(context.Background(), launcherPod(1<<30), md, dir); !errors.Is(err, failure.ErrRefused) || !strings.Contains(err.Error(), "recorded nothing") {
		t.Errorf("an unrecorded containerDisk file: %v, want ErrRefused", err)
	}
}

// An overlay QEMU's header no longer names the recorded backing file, or
// that gained an external data file, is refused at the next define.
func TestChangedOverlayIsRefused(t *testing.T) {
	ref := pushDisk(t, []byte("raw disk"))
	dir := t.TempDir()
	vs := &Volumes{Images: testCache(t, ref), FreeBytes: freeBytes(1 << 30)}
	md := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{{Name: "root", Kind: domainspec.VolumeContainerDisk, Image: ref}}}
	if _, err := vs.Prepare(context.Background(), launcherPod(1<<30), md, dir); err != nil {
		t.Fatal(err)
	}
	if err := writeOverlay(filepath.Join(dir, "disk-root.img.new"), "/etc/shadow", "raw", 4096); err != nil {
		t.Fatal(err)
	}
	_ = os.Rename(filepath.Join(dir, "disk-root.img.new"), filepath.Join(dir, "disk-root.img"))
	if _, err := vs.Prepare(context.Background(), launcherPod(1<<30), md, dir); !errors.Is(err, failure.ErrRefused) {
		t.Errorf("an overlay naming another backing file: %v, want ErrRefused", err)
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
		if err := Check(launcherPod(1<<30), md); kind == "somethingElse" && (!errors.Is(err, failure.ErrUnsupported) || !strings.Contains(err.Error(), "volume v")) {
			t.Errorf("%s: Check = %v, want ErrUnsupported naming the volume", kind, err)
		}
		// Without HostVolumes, Prepare refuses claims and host disks.
		if _, err := (&Volumes{FreeBytes: freeBytes(1 << 30)}).Prepare(context.Background(), launcherPod(1<<30), md, t.TempDir()); !errors.Is(err, failure.ErrUnsupported) {
			t.Errorf("%s: Prepare = %v, want ErrUnsupported", kind, err)
		}
	}
	ok := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{{Kind: domainspec.VolumeEmptyDisk}, {Kind: domainspec.VolumeContainerDisk}, {Kind: domainspec.VolumeCloudInitNoCloud}}}
	if err := Check(launcherPod(1<<30), ok); err != nil {
		t.Errorf("Check of supported volumes: %v", err)
	}
}
