package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/failure"
)

// The VMI's directory is the agent's own in the Pod's state volume,
// where the kubelet keeps it; a Pod without the volume has none.
func TestDir(t *testing.T) {
	vs := &Volumes{KubeletRootDir: "/kubelet"}
	p := launcherPod(1 << 30)
	got, err := vs.Dir(p)
	if want := "/kubelet/pods/pod-uid/volumes/kubernetes.io~empty-dir/vmi-state/vmi"; err != nil || got != want {
		t.Errorf("Dir = %q, %v; want %q", got, err, want)
	}
	if got, _ := (&Volumes{}).Dir(p); got != filepath.Join(DefaultKubeletRootDir, "pods/pod-uid/volumes/kubernetes.io~empty-dir/vmi-state/vmi") {
		t.Errorf("Dir with the default kubelet root = %q", got)
	}
	for _, uid := range []string{"", ".", "..", "a/../../b"} {
		q := p.DeepCopy()
		q.UID = types.UID(uid)
		if d, err := vs.Dir(q); err == nil {
			t.Errorf("Pod UID %q: %q", uid, d)
		}
	}
	old := p.DeepCopy()
	old.Spec.Volumes = nil
	if _, err := vs.Dir(old); !errors.Is(err, failure.ErrDiskQuota) {
		t.Errorf("a Pod without the state volume: %v, want ErrDiskQuota", err)
	}
}

// ensureDir makes the agent's directory in a volume the kubelet set up,
// and refuses what it did not make.
func TestEnsureDir(t *testing.T) {
	volume := t.TempDir()
	if err := os.Chmod(volume, 0o777); err != nil { // as the kubelet makes an emptyDir
		t.Fatal(err)
	}
	dir := filepath.Join(volume, domainspec.StateSubdir)
	if err := ensureDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("made %v, %v; want a 0755 directory", fi, err)
	}
	if err := ensureDir(dir); err != nil {
		t.Errorf("a second time: %v", err)
	}

	planted := filepath.Join(t.TempDir(), "vmi")
	if err := os.Symlink("/etc", planted); err != nil {
		t.Fatal(err)
	}
	if err := ensureDir(planted); !errors.Is(err, failure.ErrRefused) {
		t.Errorf("a symlink in its place: %v, want ErrRefused", err)
	}
	writable := filepath.Join(t.TempDir(), "vmi")
	if err := os.Mkdir(writable, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(writable, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := ensureDir(writable); !errors.Is(err, failure.ErrRefused) {
		t.Errorf("a world-writable directory in its place: %v, want ErrRefused", err)
	}
	if err := ensureDir(filepath.Join(t.TempDir(), "not-set-up", "vmi")); err == nil {
		t.Error("made a directory in a volume the kubelet has not set up")
	}
}
