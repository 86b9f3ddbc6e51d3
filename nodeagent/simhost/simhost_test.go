package simhost

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestStorageNamesPathsUnderRootAndMakesOnlyTheVMIDir(t *testing.T) {
	root := t.TempDir()
	s := &Storage{Root: root}
	ctx := context.Background()
	a, err := s.ResolveImage(ctx, "registry.example/guest:1", corev1.PullAlways)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.PullImage(ctx, "registry.example/guest:1", corev1.PullAlways)
	c, _ := s.ResolveImage(ctx, "registry.example/guest:2", corev1.PullAlways)
	if a != b || a == c || !strings.HasPrefix(a, filepath.Join(root, "images")+"/") {
		t.Errorf("image roots %q %q %q: want one per reference, under %s/images", a, b, c, root)
	}
	if _, err := s.ResolveImage(ctx, "", corev1.PullAlways); err == nil {
		t.Error("an empty image reference resolved")
	}

	p := &corev1.Pod{}
	p.Name, p.UID = "virt-launcher-a", types.UID("u1")
	dir, err := s.Dir(p)
	if err != nil || dir != filepath.Join(root, "vmis", "u1") {
		t.Fatalf("Dir = %q, %v", dir, err)
	}
	for _, bad := range []types.UID{"", "..", "a/b"} {
		p.UID = bad
		if _, err := s.Dir(p); err == nil {
			t.Errorf("Dir accepted UID %q", bad)
		}
	}
	prepared, err := s.Prepare(ctx, p, nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(prepared.Formats)+len(prepared.DiskFiles)+len(prepared.VolumeDisks) != 0 {
		t.Errorf("Prepare reported disks: %+v", prepared)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("the VMI's directory: %v entries, %v; want it empty", len(entries), err)
	}
	if _, err := os.Stat(filepath.Join(root, "images")); !os.IsNotExist(err) {
		t.Errorf("an image root was made (%v)", err)
	}
}
