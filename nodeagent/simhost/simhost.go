package simhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/storage"
)

// Storage stands in for storage.Volumes: it answers with paths under Root
// and makes nothing there but each VMI's empty directory.
type Storage struct {
	// Root is where the simulated image roots and VMI directories are
	// said to be (the agent's --state-dir/sim).
	Root string
}

// ResolveImage names a root for the image under Root, the same for the
// same reference.
func (s *Storage) ResolveImage(_ context.Context, image string, _ corev1.PullPolicy) (string, error) {
	if image == "" {
		return "", fmt.Errorf("no image reference")
	}
	sum := sha256.Sum256([]byte(image))
	return filepath.Join(s.Root, "images", hex.EncodeToString(sum[:8])), nil
}

// PullImage pulls nothing: it is ResolveImage.
func (s *Storage) PullImage(ctx context.Context, image string, policy corev1.PullPolicy) (string, error) {
	return s.ResolveImage(ctx, image, policy)
}

// Dir is the VMI's directory under Root, by the Pod's UID.
func (s *Storage) Dir(p *corev1.Pod) (string, error) {
	uid := string(p.UID)
	if uid == "" || strings.Contains(uid, "/") || uid == "." || uid == ".." {
		return "", fmt.Errorf("launcher Pod %s has no usable UID (%q)", p.Name, uid)
	}
	return filepath.Join(s.Root, "vmis", uid), nil
}

// Prepare makes the VMI's directory, empty, where a real node has the
// kubelet's emptyDir (the allowlist resolves the paths in it), and no disk
// in it: each file keeps its rendered format, and no volume disk needs
// QEMU to hold it. The agent removes the directory when the domain goes.
func (s *Storage) Prepare(_ context.Context, _ *corev1.Pod, _ *domainspec.Metadata, vmiDir string) (storage.Prepared, error) {
	if err := os.MkdirAll(vmiDir, 0o750); err != nil {
		return storage.Prepared{}, fmt.Errorf("making the VMI's directory: %w", err)
	}
	return storage.Prepared{}, nil
}

// Network connects nothing: a simulated node has no Pod network
// namespace to move a tap into.
type Network struct{}

// Prepare implements nodeagent.Network.
func (Network) Prepare(context.Context, *corev1.Pod, string) error { return nil }

// Keep implements nodeagent.Network.
func (Network) Keep(context.Context, *corev1.Pod, string) error { return nil }

// Disconnect implements nodeagent.Network.
func (Network) Disconnect(context.Context, string) error { return nil }
