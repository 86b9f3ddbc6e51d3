//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/storage"
)

// TestQcow2ContainerDisk boots a guest with a qcow2 containerDisk pulled
// from the registry and checks the guest reads its data; a qcow2 image
// whose header names a backing file on the host is refused.
func TestQcow2ContainerDisk(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.namespace(t)
	dir := t.TempDir()
	data := fmt.Sprintf("podvirt qcow2 containerDisk %d\n", time.Now().UnixNano())
	iso := filepath.Join(dir, "disk.iso")
	if err := storage.WriteISO(iso, "podvirt-disk", map[string][]byte{"data": []byte(data)}); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.qcow2")
	evil := filepath.Join(dir, "evil.qcow2")
	run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", iso, good)
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/hostname", "-F", "raw", evil, "64M")
	tag := fmt.Sprint(time.Now().UnixNano())
	goodImage := pushDisk(t, good, "qcow2-good:"+tag)
	evilImage := pushDisk(t, evil, "qcow2-evil:"+tag)

	for name, image := range map[string]string{"qcow2": goodImage, "evil": evilImage} {
		manifest := withDataDisk(tinyGuest(name), fmt.Sprintf("containerDisk: {image: %q, path: /disk/root.qcow2}", image))
		if out, err := e.kubectlRun(manifest, "apply", "-n", ns, "-f", "-"); err != nil {
			t.Fatalf("kubectl apply %s: %v\n%s", name, err, out)
		}
	}

	console := guestConsole(t, e, domainspec.Name(ns, "qcow2"))
	sum := sha256.Sum256([]byte(data))
	if want := "PODVIRT-DISK " + hex.EncodeToString(sum[:]); !strings.Contains(console, want) {
		t.Errorf("the guest did not read the containerDisk (want %q on its console):\n%s", want, console)
	}
	live, err := os.ReadFile("/var/run/libvirt/qemu/" + domainspec.Name(ns, "qcow2") + ".xml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(live), "type='qcow2'") {
		t.Errorf("the running domain does not use the disk as qcow2:\n%s", live)
	}

	vmi := &v1alpha1.VirtualMachineInstance{}
	eventually(t, "the VMI with a backing file fails", 120*time.Second, func() (bool, error) {
		err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "evil"}, vmi)
		return err == nil && vmi.Status.Phase == v1alpha1.Failed, err
	})
	if vmi.Status.Reason != "DomainRefused" {
		t.Errorf("reason %q, want DomainRefused", vmi.Status.Reason)
	}
	out, err := e.kubectlRun("", "get", "events", "-n", ns, "--field-selector", "involvedObject.name=evil", "-o", "jsonpath={.items[*].message}")
	if err != nil || !strings.Contains(out, "backing file") {
		t.Errorf("no event saying why (backing file): %v\n%s", err, out)
	}
}

// pushDisk pushes an image holding file at /disk/root.qcow2 to the local
// registry and returns its reference.
func pushDisk(t *testing.T, file, nameTag string) string {
	t.Helper()
	image := "127.0.0.1:15000/podvirt/" + nameTag
	cmd := exec.Command("go", "run", "./test/tools/ocipack", "--tag", image, "--file", file+":/disk/root.qcow2", "--push")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pushing %s: %v\n%s", image, err, out)
	}
	return image
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
