//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/kvdocs"
)

// standInMemory is what the tests' guest needs: its Debian kernel asks for
// 64 MiB while it decompresses (init_size) above the 16 MiB where it
// loads, and more with more vCPUs (128Mi booted one vCPU, not four), so
// the guide's 64M VMIs, written for CirrOS, get this much, as
// TestBootFromDisk's BIOS guest has.
const standInMemory = "256Mi"

// docsBootsAtOnce bounds the corpus's guests running together: each is a
// TCG QEMU on a 2-CPU machine.
const docsBootsAtOnce = 3

// TestKubeVirtDocsBoot boots every VMI of testdata/kubevirt-docs that can
// boot here (those without a "# boot: no" line) from its own disk, with no
// kernelBoot: the tests' BIOS disk (MBR, SYSLINUX, the tiny guest) stands
// in for each guest image the user guide names, as a cluster's own mirror
// of those images would:
//   - a containerDisk image is pushed to the local registry under the
//     same repository and tag, and the manifest's image names that
//     registry instead of its own (the only change made to the file);
//   - a claim the VMI boots from is created and filled with the disk
//     before the VMI, the way CDI's HTTP importer fills one: a Pod mounts
//     it and downloads the disk into its disk.img; other claims are
//     created empty (the node agent makes their disk.img), and a Secret
//     a cloud-init volume names is created;
//   - a VMI with less guest memory than the stand-in guest's kernel needs
//     (the guide's CirrOS VMIs ask for 64M) gets standInMemory.
//
// Each guest must print the bootloader's kernel command line marker and
// the tiny guest's ready marker on its serial console; each VMI is then
// deleted and nothing of it is left on the node.
func TestKubeVirtDocsBoot(t *testing.T) {
	e := newEnv(t)
	disks := bootDisks(t, e.Env)
	bios := filepath.Join(disks, "bios.img")
	server := httptest.NewServer(http.FileServer(http.Dir(disks)))
	t.Cleanup(server.Close)
	diskURL := server.URL + "/bios.img"
	files, err := filepath.Glob("testdata/kubevirt-docs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type boot struct {
		file string
		vmi  map[string]any
	}
	var boots []boot
	pushed := map[string][]string{} // image -> the paths its VMIs read
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		h, err := kvdocs.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if h.NoBoot != "" {
			t.Logf("%s: not booted: %s", filepath.Base(file), h.NoBoot)
			continue
		}
		var vmi map[string]any
		if err := yaml.Unmarshal(raw, &vmi); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, v := range docsVolumes(vmi) {
			cd, ok := v["containerDisk"].(map[string]any)
			if !ok {
				continue
			}
			image := e.Registry + "/" + withoutRegistry(cd["image"].(string))
			path, _ := cd["path"].(string)
			if path == "" {
				path = "/disk/bios.img"
			}
			cd["image"] = image
			pushed[image] = append(pushed[image], path)
		}
		if raised := atLeastGuestMemory(vmi, standInMemory); raised != "" {
			t.Logf("%s: guest memory %s raised to %s for the stand-in guest's kernel", filepath.Base(file), raised, standInMemory)
		}
		boots = append(boots, boot{file, vmi})
	}
	if len(boots) < 20 {
		t.Fatalf("%d bootable VMIs in the corpus, want at least 20", len(boots))
	}
	for image, paths := range pushed {
		args := []string{"./test/tools/ocipack", "--tag", image, "--push"}
		for _, p := range dedupe(paths) {
			args = append(args, "--file", bios+":"+p)
		}
		e.GoRun(t, args...)
	}

	slots := make(chan struct{}, docsBootsAtOnce)
	t.Run("group", func(t *testing.T) {
		for _, b := range boots {
			t.Run(filepath.Base(b.file), func(t *testing.T) {
				t.Parallel()
				slots <- struct{}{}
				defer func() { <-slots }()
				ns := e.Namespace(t)
				name := b.vmi["metadata"].(map[string]any)["name"].(string)
				e.prepareDocsVolumes(t, ns, b.vmi, diskURL)
				manifest, err := json.Marshal(b.vmi)
				if err != nil {
					t.Fatal(err)
				}
				footprint := e.Track(t, ns, name)
				applied := time.Now()
				if out, err := e.Kubectl(string(manifest), "apply", "-n", ns, "-f", "-"); err != nil {
					t.Fatalf("kubectl apply: %v\n%s", err, out)
				}
				console := e.GuestConsole(t, domainspec.Name(ns, name))
				if !strings.Contains(console, "podvirt.boot=syslinux-bios") {
					t.Errorf("the console does not show the bootloader's command line (podvirt.boot=syslinux-bios):\n%s", console)
				}
				t.Logf("kubectl apply -> ready marker, booted from its disk: %s", time.Since(applied).Round(time.Millisecond))
				e.DeleteVMI(t, ns, name, 2*time.Minute)
				e.ExpectNoLeaks(t, footprint)
			})
		}
	})
}

// prepareDocsVolumes makes what the VMI's volumes name: its claims (the
// one it boots from holding the disk at diskURL) and its cloud-init
// Secrets.
func (e *env) prepareDocsVolumes(t *testing.T, ns string, vmi map[string]any, diskURL string) {
	t.Helper()
	ctx := context.Background()
	bootVolume := docsBootVolume(vmi)
	for _, v := range docsVolumes(vmi) {
		if pvc, ok := v["persistentVolumeClaim"].(map[string]any); ok {
			claim := pvc["claimName"].(string)
			e.createClaim(t, ns, claim, "128Mi")
			if v["name"] == bootVolume {
				e.fillClaim(t, ns, claim, diskURL)
			}
		}
		ci, ok := v["cloudInitNoCloud"].(map[string]any)
		if !ok {
			continue
		}
		for _, ref := range []string{"secretRef", "networkDataSecretRef"} {
			r, ok := ci[ref].(map[string]any)
			if !ok {
				continue
			}
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: r["name"].(string), Namespace: ns},
				StringData: map[string]string{"userdata": "#cloud-config\n", "networkdata": "version: 2\n"}}
			if err := e.Client.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func (e *env) createClaim(t *testing.T, ns, name, size string) {
	t.Helper()
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
	if err := e.Client.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// fillClaim fills the claim's disk.img from url, as an HTTP importer
// (CDI's) does: a Pod on the host network (url is the test's server on
// the node's loopback) mounts the claim, which makes the local-path
// provisioner create its volume, and downloads the disk into it.
func (e *env) fillClaim(t *testing.T, ns, claim, url string) {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "import-" + claim, Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			HostNetwork:   true,
			Containers: []corev1.Container{{
				Name: "import", Image: e.Image(t, "local-path-helper"),
				Command:      []string{"/bin/busybox", "wget", "-q", "-O", filepath.Join("/claim", domainspec.ClaimDiskFile), url},
				VolumeMounts: []corev1.VolumeMount{{Name: "claim", MountPath: "/claim"}},
			}},
			Volumes: []corev1.Volume{{Name: "claim", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
		},
	}
	if err := e.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: ns, Name: p.Name}
	framework.Eventually(t, "the Pod importing the disk into claim "+claim+" to end", 2*time.Minute, func() (bool, error) {
		got := &corev1.Pod{}
		if err := e.Client.Get(ctx, key, got); err != nil {
			return false, err
		}
		if got.Status.Phase == corev1.PodFailed {
			return false, fmt.Errorf("the import Pod failed: %+v", got.Status.ContainerStatuses)
		}
		return got.Status.Phase == corev1.PodSucceeded, nil
	})
	if err := e.Client.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, "the import Pod of claim "+claim+" to be gone", 2*time.Minute, func() (bool, error) {
		err := e.Client.Get(ctx, key, &corev1.Pod{})
		return apierrors.IsNotFound(err), nil
	})
}

func docsVolumes(vmi map[string]any) []map[string]any {
	spec, _ := vmi["spec"].(map[string]any)
	list, _ := spec["volumes"].([]any)
	var out []map[string]any
	for _, v := range list {
		if m, ok := v.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// docsBootVolume is the volume KubeVirt boots: that of the disk with
// bootOrder 1, else of the first disk, else the first volume.
func docsBootVolume(vmi map[string]any) string {
	spec, _ := vmi["spec"].(map[string]any)
	domain, _ := spec["domain"].(map[string]any)
	devices, _ := domain["devices"].(map[string]any)
	disks, _ := devices["disks"].([]any)
	for _, d := range disks {
		if m, ok := d.(map[string]any); ok && m["bootOrder"] == float64(1) {
			return m["name"].(string)
		}
	}
	if len(disks) > 0 {
		return disks[0].(map[string]any)["name"].(string)
	}
	if vols := docsVolumes(vmi); len(vols) > 0 {
		return vols[0]["name"].(string)
	}
	return ""
}

// atLeastGuestMemory raises the guest memory of vmi, and the requests or
// limits it comes from, to floor when it is below, and returns what it
// was ("" when it was enough).
func atLeastGuestMemory(vmi map[string]any, floor string) string {
	least := resource.MustParse(floor)
	spec, _ := vmi["spec"].(map[string]any)
	domain, _ := spec["domain"].(map[string]any)
	var fields []map[string]any // each holds a "memory" or "guest" quantity
	if r, ok := domain["resources"].(map[string]any); ok {
		for _, k := range []string{"requests", "limits"} {
			if m, ok := r[k].(map[string]any); ok {
				fields = append(fields, m)
			}
		}
	}
	if m, ok := domain["memory"].(map[string]any); ok {
		fields = append(fields, m)
	}
	was := ""
	for _, m := range fields {
		for _, k := range []string{"memory", "guest"} {
			v, ok := m[k].(string)
			if !ok {
				continue
			}
			if q, err := resource.ParseQuantity(v); err == nil && q.Cmp(least) < 0 {
				was, m[k] = v, floor
			}
		}
	}
	return was
}

// withoutRegistry is an image reference without its registry host
// (docker.io's images have none).
func withoutRegistry(image string) string {
	first, rest, ok := strings.Cut(image, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return rest
	}
	return image
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
