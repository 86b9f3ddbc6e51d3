package storage

import (
	"strings"
	"testing"
)

const hostMountInfo = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 27 253:1 / /var/lib/kubelet rw,relatime shared:9 - xfs /dev/vdb rw
31 30 253:1 /pods/u1/volumes/kubernetes.io~local-volume/pv1 /var/lib/kubelet/pods/u1/volumes/kubernetes.io~local-volume/pv1 rw - xfs /dev/vdb rw
32 27 253:0 /srv /mnt/srv\040copy rw - ext4 /dev/vda rw
`

// A launcher container's mounts, as containerd sets them up: a claim the
// kubelet mounted (local volume), a hostPath claim (local-path's default),
// the state volume.
const containerMountInfo = `600 500 0:99 / / ro - overlay overlay rw
601 600 253:1 /pods/u1/volumes/kubernetes.io~local-volume/pv1 /var/run/podvirt/volumes/local ro - xfs /dev/vdb rw
602 600 253:0 /opt/local-path/pvc-1_ns_c /var/run/podvirt/volumes/hostpath ro - ext4 /dev/vda rw
603 600 253:0 /srv/a\040b /var/run/podvirt/volumes/spaced ro - ext4 /dev/vda rw
604 600 253:7 /x /var/run/podvirt/volumes/elsewhere ro - ext4 /dev/vdz rw
`

func TestHostPathOf(t *testing.T) {
	host, err := parseMountInfo(strings.NewReader(hostMountInfo))
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := parseMountInfo(strings.NewReader(containerMountInfo))
	if err != nil {
		t.Fatal(err)
	}
	for point, want := range map[string]string{
		"/var/run/podvirt/volumes/local":    "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~local-volume/pv1",
		"/var/run/podvirt/volumes/hostpath": "/opt/local-path/pvc-1_ns_c",
		// The filesystem's own mount (/) over a bind of a directory of it
		// elsewhere (/srv at /mnt/srv copy) would be equally right; the
		// longer root wins.
		"/var/run/podvirt/volumes/spaced": "/mnt/srv copy/a b",
	} {
		got, err := hostPathOf(ctr, host, point)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", point, got, err, want)
		}
	}
	for _, point := range []string{"/var/run/podvirt/volumes/elsewhere", "/var/run/podvirt/volumes/none"} {
		if got, err := hostPathOf(ctr, host, point); err == nil {
			t.Errorf("%s: %q, want an error", point, got)
		}
	}
}

func TestUnder(t *testing.T) {
	for _, c := range []struct {
		path, dir, rel string
		ok             bool
	}{
		{"/a/b", "/a", "b", true}, {"/a", "/a", ".", true}, {"/ab", "/a", "", false},
		{"/a/b", "/", "a/b", true}, {"/a/../b", "/a", "", false},
	} {
		if rel, ok := under(c.path, c.dir); rel != c.rel || ok != c.ok {
			t.Errorf("under(%q, %q) = %q, %v", c.path, c.dir, rel, ok)
		}
	}
}

func FuzzParseMountInfo(f *testing.F) {
	f.Add(hostMountInfo)
	f.Add(containerMountInfo)
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := parseMountInfo(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, m := range ms {
			if !strings.Contains(m.dev, ":") {
				t.Fatalf("a mount without a device: %+v", m)
			}
		}
		_, _ = hostPathOf(ms, ms, "/")
	})
}
