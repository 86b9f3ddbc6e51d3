//go:build e2e

package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// bootDisks builds (once: test/local/build-disks.sh caches them) the tiny
// guest on bootable disks with a real bootloader and returns their
// directory: bios.img (MBR, SYSLINUX) and efi.img (GPT, an EFI system
// partition with GRUB).
func bootDisks(t *testing.T, e *framework.Env) string {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(e.Repo, "test", "local", "build-disks.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("test/local/build-disks.sh: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func sha256File(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// TestBootFromDisk boots VMIs with no kernelBoot from containerDisks with
// a real bootloader, as a cloud image boots: SYSLINUX through SeaBIOS
// (BIOS, the default) from a raw image, and GRUB through OVMF with Secure
// Boot off (firmware.bootloader.efi.secureBoot false) from a qcow2 image.
// Each disk is a qcow2 overlay in the launcher Pod's volume over the image
// in the node's cache: the domain names exactly that one-level chain, and
// the cached image, read-only, is what was pushed after the guest booted.
func TestBootFromDisk(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	disks := bootDisks(t, e.Env)
	efi := filepath.Join(t.TempDir(), "efi.qcow2")
	framework.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", filepath.Join(disks, "efi.img"), efi)
	tag := fmt.Sprint(time.Now().UnixNano())
	backing := regexp.MustCompile(`<backingStore type='file'[^>]*>\s*<format type='([a-z0-9]+)'/>\s*<source file='([^']+)'`)
	for _, c := range []struct {
		name, file, diskPath, bootloader, backingFormat string
		opts                                            []libvmi.Option
	}{
		{"bios", filepath.Join(disks, "bios.img"), "/disk/bios.img", "syslinux-bios", "raw",
			[]libvmi.Option{libvmi.WithMemory("256Mi")}},
		// GRUB's linux loader runs out of memory under OVMF with 256Mi.
		{"efi", efi, "/disk/efi.qcow2", "grub-efi", "qcow2",
			[]libvmi.Option{libvmi.WithFirmwareEFISecureBoot(false), libvmi.WithMemory("512Mi")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			image := e.PushDiskAt(t, c.file, c.diskPath, "boot-"+c.name+":"+tag)
			name := "boot-" + c.name
			footprint := e.Track(t, ns, name)
			applied := time.Now()
			e.Apply(t, ns, libvmi.New(append([]libvmi.Option{
				libvmi.WithName(name),
				libvmi.WithTerminationGracePeriod(libvmi.TinyGracePeriod),
				libvmi.WithAutoattachPodInterface(false),
				libvmi.WithContainerDisk("rootdisk", image),
			}, c.opts...)...))
			domName := domainspec.Name(ns, name)
			console := e.GuestConsole(t, domName)
			t.Logf("kubectl apply -> ready marker, booted by %s: %s", c.bootloader, time.Since(applied).Round(time.Millisecond))
			// The bootloader, not the node, gave the kernel its command line.
			if want := "podvirt.boot=" + c.bootloader; !strings.Contains(console, want) {
				t.Errorf("the console does not show %q (the kernel's command line from the bootloader):\n%s", want, console)
			}

			live, err := os.ReadFile(filepath.Join(framework.LibvirtRunDir, domName+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			xml := string(live)
			if strings.Contains(xml, "<kernel>") {
				t.Errorf("the domain boots a kernel directly:\n%s", xml)
			}
			m := backing.FindStringSubmatch(xml)
			if m == nil || m[1] != c.backingFormat || !strings.Contains(m[2], "/images/sha256-") || !strings.Contains(xml, "type='qcow2'") {
				t.Fatalf("the running domain's disk is not a qcow2 overlay over the cached %s image:\n%s", c.backingFormat, xml)
			}
			if !strings.Contains(xml, "relabel='no'") {
				t.Errorf("the backing image may be relabelled:\n%s", xml)
			}
			// One level: the backing store's own is empty.
			rest := xml[strings.Index(xml, m[0])+len(m[0]):]
			if end := strings.Index(rest, "</backingStore>"); end < 0 || !strings.Contains(rest[:end], "<backingStore/>") || strings.Count(rest[:end], "<source ") > 0 {
				t.Errorf("the backing chain is not exactly one level:\n%s", xml)
			}
			fi, err := os.Stat(m[2])
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o444 {
				t.Errorf("the cached image %s has mode %s, want 0444", m[2], fi.Mode())
			}
			if sha256File(t, m[2]) != sha256File(t, c.file) {
				t.Errorf("the cached image %s is not the pushed disk", m[2])
			}
			// The VMI's own disk: an overlay in its launcher Pod's volume,
			// far smaller than the image.
			top := regexp.MustCompile(`<source file='([^']*/` + regexp.QuoteMeta(domainspec.DiskFile("rootdisk")) + `)'`).FindStringSubmatch(xml)
			if top == nil || !strings.Contains(top[1], "/volumes/kubernetes.io~empty-dir/"+domainspec.StateVolume+"/") {
				t.Fatalf("the disk is not in the launcher Pod's volume:\n%s", xml)
			}
			if ofi, err := os.Stat(top[1]); err != nil || ofi.Size() >= fi.Size()/4 {
				t.Errorf("the VMI's disk %s: %v, %v; want an overlay far smaller than the image's %d bytes", top[1], ofi, err, fi.Size())
			}

			e.DeleteVMI(t, ns, name, 120*time.Second)
			e.ExpectNoLeaks(t, footprint)
			if sha256File(t, m[2]) != sha256File(t, c.file) {
				t.Errorf("the cached image %s changed while the guest ran", m[2])
			}
		})
	}
}
