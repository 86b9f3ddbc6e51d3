package storage

import (
	"fmt"
	"math"
	"path/filepath"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/failure"
)

// Budget is what launcher Pod p declares for its VMI's files: the
// sizeLimit of its state volume, and never more than its containers'
// ephemeral-storage limits (what ResourceQuota counted). A Pod that
// declares neither gets nothing: files it does not declare would be
// counted nowhere.
func Budget(p *corev1.Pod) (int64, error) {
	v := stateVolume(p)
	if v == nil || v.SizeLimit == nil {
		return 0, fmt.Errorf("%w: launcher Pod %s declares no sizeLimit for its volume %q", failure.ErrDiskQuota, p.Name, domainspec.StateVolume)
	}
	var limit int64
	found := false
	for _, c := range p.Spec.Containers {
		if l, ok := c.Resources.Limits[corev1.ResourceEphemeralStorage]; ok {
			limit, found = addBytes(limit, l.Value()), true
		}
	}
	if !found {
		return 0, fmt.Errorf("%w: launcher Pod %s declares no ephemeral-storage limit", failure.ErrDiskQuota, p.Name)
	}
	return min(v.SizeLimit.Value(), limit), nil
}

// file is one file of the VMI's that Prepare will make (or finds made),
// and the most it may take.
type file struct {
	// what names it in errors: "volume root (containerDisk copy)".
	what string
	// bytes is the most it may take: its declared size.
	bytes int64
	// exists: it is there already (a restart), taking what it takes.
	exists bool
}

// fit checks that the files fit the Pod's budget, all of them, and that
// those still to be made fit the free space of dir's filesystem: before
// anything is written, so a VMI that would not fit leaves nothing. Sizes
// are declared sizes, sparse or not: what a guest may fill is what is
// counted.
func (vs *Volumes) fit(budget int64, dir string, files []file) error {
	var total int64
	for _, f := range files {
		total = addBytes(total, f.bytes)
		if total > budget {
			return quotaError(f, total, budget)
		}
	}
	free, err := vs.freeBytes(dir)
	if err != nil {
		return fmt.Errorf("reading the free space at %s: %w", dir, err)
	}
	var fresh int64
	for _, f := range files {
		if f.exists {
			continue
		}
		fresh = addBytes(fresh, f.bytes)
		if fresh > free {
			return fmt.Errorf("%w: %s may take %d bytes, which brings the VMI's new files to %d bytes, more than the %d free on the node's filesystem at %s",
				failure.ErrDiskQuota, f.what, f.bytes, fresh, free, filepath.Dir(dir))
		}
	}
	return nil
}

// quotaError says that f, which brings the VMI's files to total bytes,
// does not fit the Pod's budget.
func quotaError(f file, total, budget int64) error {
	return fmt.Errorf("%w: %s may take %d bytes, which brings the VMI's files on the node to %d bytes, more than the %d its launcher Pod declares for them (raise spec.domain.resources ephemeral-storage, or shrink the disk)",
		failure.ErrDiskQuota, f.what, f.bytes, total, budget)
}

// freeBytes is the space an unprivileged writer may still take on dir's
// filesystem (statfs's f_bavail: the root reserve is the node's, not a
// VMI's).
func (vs *Volumes) freeBytes(dir string) (int64, error) {
	if vs.FreeBytes != nil {
		return vs.FreeBytes(dir)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return mulBytes(int64(st.Bavail), int64(st.Bsize)), nil
}

// serialLog is the serial log's place among the VMI's files: first, so a
// refusal names the disk that does not fit.
func serialLog() file {
	return file{what: "the serial log", bytes: domainspec.SerialLogAllowanceBytes}
}

// addBytes and mulBytes saturate instead of wrapping: sizes come from
// signed metadata and image headers, and a wrapped sum would let a huge
// disk pass a check.
func addBytes(a, b int64) int64 {
	if a < 0 || b < 0 || a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func mulBytes(a, b int64) int64 {
	if a < 0 || b < 0 || (a != 0 && b > math.MaxInt64/a) {
		return math.MaxInt64
	}
	return a * b
}
