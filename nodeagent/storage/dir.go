package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/failure"
)

// Dir is the VMI's directory on the node for launcher Pod p: the node
// agent's directory (domainspec.StateSubdir) in the Pod's state volume,
// where the kubelet keeps that emptyDir:
// <kubelet root>/pods/<Pod UID>/volumes/kubernetes.io~empty-dir/vmi-state/vmi.
// There the kubelet counts its bytes against the Pod's ephemeral storage
// and removes them with the Pod. It writes nothing; a Pod without the
// state volume (one an older controller rendered) has no directory.
func (vs *Volumes) Dir(p *corev1.Pod) (string, error) {
	uid := string(p.UID)
	if uid == "" || strings.Contains(uid, "/") || uid == "." || uid == ".." {
		return "", fmt.Errorf("launcher Pod %s has no usable UID (%q)", p.Name, uid)
	}
	if stateVolume(p) == nil {
		return "", fmt.Errorf("%w: launcher Pod %s has no emptyDir volume %q for the VMI's files (was it rendered by an older controller?): they would not count against its ephemeral storage",
			failure.ErrDiskQuota, p.Name, domainspec.StateVolume)
	}
	root := vs.KubeletRootDir
	if root == "" {
		root = DefaultKubeletRootDir
	}
	return filepath.Join(root, "pods", uid, "volumes", "kubernetes.io~empty-dir", domainspec.StateVolume, domainspec.StateSubdir), nil
}

// stateVolume is the Pod's state volume, nil if it has none.
func stateVolume(p *corev1.Pod) *corev1.EmptyDirVolumeSource {
	for i := range p.Spec.Volumes {
		if v := &p.Spec.Volumes[i]; v.Name == domainspec.StateVolume {
			return v.EmptyDir
		}
	}
	return nil
}

// ensureDir makes dir, the agent's directory in a volume the kubelet has
// set up, and checks it is the agent's own: a directory (not a link)
// owned by this process's user that no one else may write to. The
// kubelet makes the emptyDir itself writable by all, so anything there
// the agent did not make could be another process's plant.
func ensureDir(dir string) error {
	parent := filepath.Dir(dir)
	if fi, err := os.Lstat(parent); err != nil || !fi.IsDir() {
		return fmt.Errorf("the launcher Pod's volume %s is not set up at %s (%v)", domainspec.StateVolume, parent, err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: %s is not the node agent's own directory (mode %s)", failure.ErrRefused, dir, fi.Mode())
	}
	return nil
}

// ensureSerialLog makes the serial log, before QEMU opens it (append, so
// it keeps this mode), readable by the launcher container: it streams the
// guest's console to its stdout, so `kubectl logs` shows it. Only the
// Pod's own containers see the volume.
func ensureSerialLog(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, domainspec.SerialLogFile), os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, 0o644)
	if os.IsExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating the serial log: %w", err)
	}
	return f.Close()
}
