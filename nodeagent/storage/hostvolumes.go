package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/failure"
)

// HostVolumes finds, on the host, the volumes whose disks are not the
// VMI's own files: persistentVolumeClaims, where the kubelet mounted them
// for the launcher container (the agent reads no claim or volume from the
// API: the container's mount table says where the kubelet's mount is),
// and hostDisks, inside HostDiskDirs only.
type HostVolumes struct {
	// HostRoot is the host's root directory as the node agent sees it:
	// /proc/1/root in the host's PID namespace, or / on the host.
	HostRoot string
	// HostMountInfo is the host's mount table: /proc/1/mountinfo.
	HostMountInfo string
	// Proc is where the launcher container's process is seen (/proc).
	Proc string
	// LauncherPID returns a process of the launcher container of Pod p.
	LauncherPID func(p *corev1.Pod) (int, error)
	// HostDiskDirs are the directories hostDisk images may be inside;
	// none refuses every hostDisk.
	HostDiskDirs []string
	// KubeletRootDir is the kubelet's --root-dir, which the agent sees at
	// the same path with the kubelet's later mounts (mount propagation):
	// a path inside it is opened there rather than under HostRoot, whose
	// mount may not propagate them.
	KubeletRootDir string
}

// rootOf is the directory a host path is opened in: "/" for a path in
// the kubelet's directory, else HostRoot.
func (h *HostVolumes) rootOf(hostPath string) string {
	if h.KubeletRootDir != "" {
		if rel, ok := under(hostPath, h.KubeletRootDir); ok && rel != "." {
			return "/"
		}
	}
	return h.HostRoot
}

// FileID is what QEMU must have open once it runs, whatever the file's
// name points to by then: a regular file's device and inode, or a block
// device's number (Rdev, with Dev and Ino zero). A device is known by its
// number, not its node: libvirt gives QEMU a /dev of its own, where it
// makes a new node for each disk device.
type FileID struct{ Dev, Ino, Rdev uint64 }

// volumeDisk is one volume's disk outside the VMI's directory.
type volumeDisk struct {
	// path is the disk's path on the host; block says it is a device.
	path  string
	block bool
	id    FileID
}

// claimFile opens (or makes, to fit the claim) a filesystem-mode claim's
// disk.img where the kubelet mounted the claim for the launcher
// container.
func (h *HostVolumes) claimFile(p *corev1.Pod, v domainspec.VolumeMetadata) (volumeDisk, error) {
	dir, err := h.containerMountOnHost(p, path.Join(domainspec.ClaimMountDir, v.Name))
	if err != nil {
		return volumeDisk{}, err
	}
	disk := filepath.Join(dir, domainspec.ClaimDiskFile)
	id, err := h.openDisk(disk, v.ReadOnly, func(dirFD int) (int64, error) { return claimDiskBytes(p, v.Name, dirFD) })
	if err != nil {
		return volumeDisk{}, fmt.Errorf("persistentVolumeClaim %s: %w", v.ClaimName, err)
	}
	return volumeDisk{path: disk, id: id}, nil
}

// claimDevice finds the host's device node of a block-mode claim: the
// device the kubelet gave the launcher container.
func (h *HostVolumes) claimDevice(p *corev1.Pod, v domainspec.VolumeMetadata) (volumeDisk, error) {
	pid, err := h.LauncherPID(p)
	if err != nil {
		return volumeDisk{}, err
	}
	root := filepath.Join(h.Proc, strconv.Itoa(pid), "root")
	var st unix.Stat_t
	if err := statInRoot(root, path.Join(domainspec.ClaimDeviceDir, v.Name), &st); err != nil {
		return volumeDisk{}, fmt.Errorf("persistentVolumeClaim %s: the launcher container's device: %w", v.ClaimName, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return volumeDisk{}, fmt.Errorf("%w: persistentVolumeClaim %s: the launcher container's %s is not a block device", failure.ErrRefused, v.ClaimName, path.Join(domainspec.ClaimDeviceDir, v.Name))
	}
	major, minor := unix.Major(st.Rdev), unix.Minor(st.Rdev)
	uevent, err := os.ReadFile(filepath.Join(h.HostRoot, "sys/dev/block", fmt.Sprintf("%d:%d", major, minor), "uevent"))
	if err != nil {
		return volumeDisk{}, fmt.Errorf("persistentVolumeClaim %s: device %d:%d: %w", v.ClaimName, major, minor, err)
	}
	name := ""
	for _, line := range strings.Split(string(uevent), "\n") {
		if n, ok := strings.CutPrefix(line, "DEVNAME="); ok {
			name = n
		}
	}
	dev := path.Clean("/dev/" + name)
	if name == "" || !strings.HasPrefix(dev, "/dev/") || strings.Contains(name, "..") {
		return volumeDisk{}, fmt.Errorf("%w: persistentVolumeClaim %s: device %d:%d has no usable name (%q)", failure.ErrRefused, v.ClaimName, major, minor, name)
	}
	var host unix.Stat_t
	if err := statInRoot(h.HostRoot, dev, &host); err != nil || host.Mode&unix.S_IFMT != unix.S_IFBLK || host.Rdev != st.Rdev {
		return volumeDisk{}, fmt.Errorf("%w: persistentVolumeClaim %s: the host's %s is not device %d:%d (%v)", failure.ErrRefused, v.ClaimName, dev, major, minor, err)
	}
	return volumeDisk{path: dev, block: true, id: FileID{Rdev: uint64(host.Rdev)}}, nil
}

// hostDisk opens (or, type DiskOrCreate, makes) a hostDisk's image, inside
// HostDiskDirs only.
func (h *HostVolumes) hostDisk(v domainspec.VolumeMetadata) (volumeDisk, error) {
	clean := filepath.Clean(v.Path)
	if !filepath.IsAbs(v.Path) || clean != v.Path || !slices.ContainsFunc(h.HostDiskDirs, func(d string) bool {
		rel, ok := under(clean, d)
		return ok && rel != "."
	}) {
		return volumeDisk{}, fmt.Errorf("%w: hostDisk %s is not inside a directory this node agent allows (--host-disk-dirs %q)", failure.ErrRefused, v.Path, strings.Join(h.HostDiskDirs, ","))
	}
	var size func(int) (int64, error)
	if v.Create {
		size = func(int) (int64, error) { return v.CapacityBytes, nil }
	}
	id, err := h.openDisk(clean, false, size)
	if err != nil {
		return volumeDisk{}, fmt.Errorf("hostDisk %s: %w", v.Path, err)
	}
	return volumeDisk{path: clean, id: id}, nil
}

// containerMountOnHost is the host path of what the launcher container
// has mounted at point.
func (h *HostVolumes) containerMountOnHost(p *corev1.Pod, point string) (string, error) {
	pid, err := h.LauncherPID(p)
	if err != nil {
		return "", err
	}
	ctr, err := readMountInfo(filepath.Join(h.Proc, strconv.Itoa(pid), "mountinfo"))
	if err != nil {
		return "", fmt.Errorf("the launcher container's mounts: %w", err)
	}
	host, err := readMountInfo(h.HostMountInfo)
	if err != nil {
		return "", fmt.Errorf("the host's mounts: %w", err)
	}
	return hostPathOf(ctr, host, point)
}

// openDisk opens the regular file at the host path disk, following no
// symbolic link anywhere on the way (a claim is writable by every Pod
// that mounts it: its disk.img may be a link to a host file), and
// returns its device and inode. An absent file is made, sparse, when
// size says how large (and not readOnly).
func (h *HostVolumes) openDisk(disk string, readOnly bool, size func(dirFD int) (int64, error)) (FileID, error) {
	rootDir := h.rootOf(disk)
	root, err := unix.Open(rootDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return FileID{}, fmt.Errorf("opening the host's root %s: %w", rootDir, err)
	}
	defer unix.Close(root)
	resolve := uint64(unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS)
	flags := uint64(unix.O_RDWR | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK)
	if readOnly {
		flags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK
	}
	rel := strings.TrimPrefix(disk, "/")
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{Flags: flags, Resolve: resolve})
	if errors.Is(err, unix.ENOENT) && size != nil && !readOnly {
		dirFD, derr := unix.Openat2(root, strings.TrimPrefix(filepath.Dir(disk), "/"), &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolve})
		if derr != nil {
			return FileID{}, fmt.Errorf("opening %s: %w", filepath.Dir(disk), derr)
		}
		defer unix.Close(dirFD)
		bytes, serr := size(dirFD)
		if serr != nil {
			return FileID{}, serr
		}
		fd, err = unix.Openat2(dirFD, filepath.Base(disk), &unix.OpenHow{Flags: unix.O_RDWR | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC, Mode: 0o660, Resolve: resolve})
		if err == nil {
			if terr := unix.Ftruncate(fd, bytes); terr != nil {
				unix.Close(fd)
				return FileID{}, fmt.Errorf("sizing %s to %d bytes: %w", disk, bytes, terr)
			}
		}
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
		return FileID{}, fmt.Errorf("%w: %s is, or is reached through, a symbolic link", failure.ErrRefused, disk)
	}
	if errors.Is(err, unix.EISDIR) {
		return FileID{}, fmt.Errorf("%w: %s is not a regular file", failure.ErrRefused, disk)
	}
	if err != nil {
		return FileID{}, fmt.Errorf("opening %s: %w", disk, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return FileID{}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return FileID{}, fmt.Errorf("%w: %s is not a regular file", failure.ErrRefused, disk)
	}
	return FileID{Dev: uint64(st.Dev), Ino: st.Ino}, nil
}

// statInRoot stats rel resolved inside root (openat2 RESOLVE_IN_ROOT), not
// following a final symbolic link.
func statInRoot(root, rel string, st *unix.Stat_t) error {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rfd)
	fd, err := unix.Openat2(rfd, strings.TrimPrefix(rel, "/"), &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fstat(fd, st)
}

// claimDiskBytes is the size of a new disk.img in a filesystem-mode claim,
// as KubeVirt sizes it: the claim's size (from the launcher Pod's
// domainspec.AnnotationClaimBytes, else the filesystem's) less the
// filesystem overhead, in whole MiB; no more than the space left (less
// than 90% of it left is an error).
func claimDiskBytes(p *corev1.Pod, volume string, dirFD int) (int64, error) {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(dirFD, &fs); err != nil {
		return 0, fmt.Errorf("statfs: %w", err)
	}
	want := int64(0)
	if raw := p.Annotations[domainspec.AnnotationClaimBytes]; raw != "" {
		sizes := map[string]int64{}
		if err := json.Unmarshal([]byte(raw), &sizes); err != nil {
			return 0, fmt.Errorf("%w: annotation %s: %v", failure.ErrRefused, domainspec.AnnotationClaimBytes, err)
		}
		want = sizes[volume]
	}
	if want <= 0 {
		want = int64(fs.Blocks) * fs.Bsize
	}
	want = want / 1000 * (1000 - domainspec.ClaimFilesystemOverhead)
	free := int64(fs.Bavail) * fs.Bsize
	if want > free {
		if free < want/10*9 {
			return 0, fmt.Errorf("%w: the claim has %d bytes free, its disk.img needs %d", failure.ErrDiskQuota, free, want)
		}
		want = free
	}
	want &^= 1<<20 - 1
	if want <= 0 {
		return 0, fmt.Errorf("%w: the claim is too small for a disk.img", failure.ErrDiskQuota)
	}
	return want, nil
}

// VerifyOpen checks that the process pid (QEMU, started paused) has each
// of the files want open: the very files the node agent opened when it
// prepared them, whatever their names lead to now. A claim is writable by
// every Pod that mounts it, so between the agent's check and QEMU's open
// its disk.img may have become a link to another file: QEMU would then
// hold that file, not the one checked, and the guest must never run.
func VerifyOpen(proc string, pid int, want map[string]FileID) error {
	if len(want) == 0 {
		return nil
	}
	dir := filepath.Join(proc, strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading QEMU's open files: %w", err)
	}
	open := map[FileID]bool{}
	for _, e := range entries {
		var st unix.Stat_t
		// Stat follows the fd's magic link to the open file itself.
		if err := unix.Stat(filepath.Join(dir, e.Name()), &st); err == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFBLK {
				open[FileID{Rdev: uint64(st.Rdev)}] = true
			} else {
				open[FileID{Dev: uint64(st.Dev), Ino: st.Ino}] = true
			}
		}
	}
	var missing []string
	for path, id := range want {
		if !open[id] {
			missing = append(missing, path)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%w: QEMU (pid %d) does not hold the disk the node agent checked at %s: the path was changed in between", failure.ErrRefused, pid, strings.Join(missing, ", "))
	}
	return nil
}
