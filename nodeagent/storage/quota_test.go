package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/failure"
)

const serialAllowance = int64(domainspec.SerialLogAllowanceBytes)

// launcherPod declares files bytes for its VMI's files, as launcher/pod
// renders it: the state volume's sizeLimit, and that plus the launcher's
// own as the container's ephemeral-storage limit.
func launcherPod(files int64) *corev1.Pod {
	limit := *resource.NewQuantity(files+64<<20, resource.BinarySI)
	size := *resource.NewQuantity(files, resource.BinarySI)
	p := &corev1.Pod{}
	p.Name, p.UID = "virt-launcher-tiny", "pod-uid"
	p.Spec.Containers = []corev1.Container{{Name: "launcher", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: limit},
		Limits:   corev1.ResourceList{corev1.ResourceEphemeralStorage: limit},
	}}}
	p.Spec.Volumes = []corev1.Volume{{Name: domainspec.StateVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &size}}}}
	return p
}

// freeBytes is a statfs that reports n bytes free.
func freeBytes(n int64) func(string) (int64, error) {
	return func(string) (int64, error) { return n, nil }
}

func TestBudget(t *testing.T) {
	q := func(s string) resource.Quantity { return resource.MustParse(s) }
	for _, c := range []struct {
		name string
		edit func(*corev1.Pod)
		want int64
	}{
		{name: "the state volume's sizeLimit", want: 1 << 30},
		{name: "no more than the containers' limit", edit: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits[corev1.ResourceEphemeralStorage] = q("512Mi")
		}, want: 512 << 20},
		{name: "the limits of every container add up", edit: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits[corev1.ResourceEphemeralStorage] = q("512Mi")
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: q("1Gi")}}})
		}, want: 1 << 30},
		{name: "no ephemeral-storage limit: nothing", edit: func(p *corev1.Pod) { p.Spec.Containers[0].Resources.Limits = nil }, want: -1},
		{name: "no sizeLimit: nothing", edit: func(p *corev1.Pod) { p.Spec.Volumes[0].EmptyDir.SizeLimit = nil }, want: -1},
		{name: "no state volume: nothing", edit: func(p *corev1.Pod) { p.Spec.Volumes = nil }, want: -1},
		{name: "a state volume that is no emptyDir: nothing", edit: func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}
		}, want: -1},
	} {
		p := launcherPod(1 << 30)
		if c.edit != nil {
			c.edit(p)
		}
		got, err := Budget(p)
		if c.want < 0 {
			if !errors.Is(err, failure.ErrDiskQuota) {
				t.Errorf("%s: %d, %v; want failure.ErrDiskQuota", c.name, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %d, %v; want %d", c.name, got, err, c.want)
		}
	}
}

// Files fit the budget all together, and the new ones the free space;
// sizes are declared sizes.
func TestFit(t *testing.T) {
	f := func(what string, n int64, exists bool) file { return file{what: what, bytes: n, exists: exists} }
	for _, c := range []struct {
		name   string
		budget int64
		free   int64
		files  []file
		// refused names the file refused ("" fits) and says why.
		refused, why string
	}{
		{name: "fits", budget: 10, free: 10, files: []file{f("a", 4, false), f("b", 6, false)}},
		{name: "one byte over the budget", budget: 10, free: 100, files: []file{f("a", 4, false), f("b", 7, false)}, refused: "b", why: "brings the VMI's files on the node to 11 bytes, more than the 10 its launcher Pod declares"},
		{name: "the 541G emptyDisk on a 270G node", budget: 600e9, free: 270e9, files: []file{f("scratch", 541e9, false)}, refused: "scratch", why: "more than the 270000000000 free"},
		{name: "existing files count in the budget", budget: 10, free: 100, files: []file{f("a", 8, true), f("b", 3, false)}, refused: "b", why: "more than the 10 its launcher Pod declares"},
		{name: "existing files do not count twice in the free space", budget: 100, free: 5, files: []file{f("a", 50, true), f("b", 5, false)}},
		{name: "new files add up against the free space", budget: 100, free: 5, files: []file{f("a", 3, false), f("b", 3, false)}, refused: "b", why: "brings the VMI's new files to 6 bytes"},
		{name: "no wrapping past the largest size", budget: math.MaxInt64 - 1, free: math.MaxInt64, files: []file{f("a", math.MaxInt64-2, false), f("b", 3, false)}, refused: "b", why: "more than the"},
	} {
		vs := &Volumes{FreeBytes: freeBytes(c.free)}
		err := vs.fit(c.budget, "/pods/u/vmi", c.files)
		if c.refused == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, failure.ErrDiskQuota) || !strings.HasPrefix(strings.TrimPrefix(err.Error(), failure.ErrDiskQuota.Error()+": "), c.refused+" may take") || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: %v; want failure.ErrDiskQuota naming %s and %q", c.name, err, c.refused, c.why)
		}
	}
	if err := (&Volumes{FreeBytes: func(string) (int64, error) { return 0, errors.New("EIO") }}).fit(10, "/d", nil); err == nil {
		t.Error("a statfs error was ignored")
	}
}

// What Prepare refuses it refuses before writing anything, with the
// reason and the numbers.
func TestPrepareRefusesWhatDoesNotFit(t *testing.T) {
	gi := int64(1) << 30
	empty := func(name string, n int64) domainspec.VolumeMetadata {
		return domainspec.VolumeMetadata{Name: name, Kind: domainspec.VolumeEmptyDisk, CapacityBytes: n}
	}
	for _, c := range []struct {
		name    string
		volumes []domainspec.VolumeMetadata
		budget  int64
		free    int64
		why     string
	}{
		{name: "emptyDisk beyond the Pod's declared storage", volumes: []domainspec.VolumeMetadata{empty("scratch", 541e9)}, budget: 64 << 20, free: 270e9,
			why: "volume scratch (emptyDisk) may take 541000000000 bytes"},
		{name: "emptyDisk beyond the node's free space", volumes: []domainspec.VolumeMetadata{empty("scratch", 541e9)}, budget: 541e9 + serialAllowance, free: 270e9,
			why: "more than the 270000000000 free"},
		{name: "the second disk tips it over", volumes: []domainspec.VolumeMetadata{empty("a", gi), empty("b", gi)}, budget: 2*gi + serialAllowance - 1, free: 100 * gi,
			why: "volume b (emptyDisk) may take 1073741824 bytes, which brings the VMI's files on the node to 2172649472 bytes"},
		{name: "a containerDisk overlay that could grow past the allowance", volumes: []domainspec.VolumeMetadata{{Name: "root", Kind: domainspec.VolumeContainerDisk}}, budget: serialAllowance + gi, free: 100 * gi,
			why: "volume root (containerDisk overlay over"},
		{name: "a cloud-init ISO: its files and the filesystem's", volumes: []domainspec.VolumeMetadata{{Name: "ci", Kind: domainspec.VolumeCloudInitNoCloud, UserData: "I2Nsb3VkLWNvbmZpZwo="}},
			budget: serialAllowance + domainspec.ISOOverheadBytes, free: 100 * gi, why: "volume ci (cloudInitNoCloud) may take 1048626 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := qcow2Header(3, 0, 0)
			binary.BigEndian.PutUint64(h[24:], 4<<30) // a small file that may grow to 4 GiB
			ref := pushDisk(t, h)
			for i := range c.volumes {
				if c.volumes[i].Kind == domainspec.VolumeContainerDisk {
					c.volumes[i].Image = ref
				}
			}
			vs := &Volumes{Images: testCache(t, ref), FreeBytes: freeBytes(c.free)}
			dir := filepath.Join(t.TempDir(), "vmi")
			md := &domainspec.Metadata{Name: "tiny", UID: "u", Volumes: c.volumes}
			_, err := vs.Prepare(context.Background(), launcherPod(c.budget), md, dir)
			if !errors.Is(err, failure.ErrDiskQuota) || failure.Reason(err) != failure.ReasonDiskQuota || !strings.Contains(err.Error(), c.why) {
				t.Fatalf("%v; want failure.ErrDiskQuota saying %q", err, c.why)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a refused VMI left files: %v", entries)
			}
		})
	}
}

// A sparse emptyDisk counts at its capacity, and fits when declared.
func TestPrepareCountsDeclaredSizes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vmi")
	vs := &Volumes{FreeBytes: freeBytes(2 << 30)}
	md := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{{Name: "scratch", Kind: domainspec.VolumeEmptyDisk, CapacityBytes: 1 << 30}}}
	if _, err := vs.Prepare(context.Background(), launcherPod(1<<30+serialAllowance), md, dir); err != nil {
		t.Fatalf("exactly what the Pod declares: %v", err)
	}
	// Sparse: nothing allocated, yet a second Prepare of a Pod declaring
	// less is refused by its capacity.
	if _, err := vs.Prepare(context.Background(), launcherPod(1<<30), md, dir); !errors.Is(err, failure.ErrDiskQuota) {
		t.Errorf("an existing sparse disk beyond the Pod's declaration: %v, want ErrDiskQuota", err)
	}
}

// Check refuses, from the signed metadata alone, emptyDisks beyond the
// budget, and a Pod without one, before any pull or file.
func TestCheckRefusesEmptyDisksBeyondTheBudget(t *testing.T) {
	md := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{
		{Name: "root", Kind: domainspec.VolumeContainerDisk, Image: "r/d:1"},
		{Name: "scratch", Kind: domainspec.VolumeEmptyDisk, CapacityBytes: 541e9},
	}}
	if err := Check(launcherPod(64<<20), md); !errors.Is(err, failure.ErrDiskQuota) || !strings.Contains(err.Error(), "volume scratch") {
		t.Errorf("Check = %v, want ErrDiskQuota naming volume scratch", err)
	}
	if err := Check(launcherPod(541e9+serialAllowance), md); err != nil {
		t.Errorf("Check of what the Pod declares: %v", err)
	}
	if err := Check(&corev1.Pod{}, md); !errors.Is(err, failure.ErrDiskQuota) {
		t.Errorf("Check of a Pod declaring nothing: %v, want ErrDiskQuota", err)
	}
	neg := &domainspec.Metadata{Volumes: []domainspec.VolumeMetadata{{Name: "x", Kind: domainspec.VolumeEmptyDisk, CapacityBytes: -1}}}
	if err := Check(launcherPod(1<<30), neg); err == nil {
		t.Error("a negative capacity passed")
	}
}
