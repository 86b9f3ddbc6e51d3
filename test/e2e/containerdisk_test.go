//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// TestQcow2ContainerDisk boots a guest with a qcow2 containerDisk pulled
// from the registry and checks the guest reads its data; a qcow2 image
// whose header names a backing file on the host is refused.
func TestQcow2ContainerDisk(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	dir := t.TempDir()
	data := fmt.Sprintf("podvirt qcow2 containerDisk %d\n", time.Now().UnixNano())
	iso := filepath.Join(dir, "disk.iso")
	if err := framework.WriteISO(iso, "podvirt-disk", map[string][]byte{"data": []byte(data)}); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.qcow2")
	evil := filepath.Join(dir, "evil.qcow2")
	framework.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", iso, good)
	framework.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/hostname", "-F", "raw", evil, "64M")
	tag := fmt.Sprint(time.Now().UnixNano())
	goodImage := e.PushDisk(t, good, "qcow2-good:"+tag)
	evilImage := e.PushDisk(t, evil, "qcow2-evil:"+tag)

	footprints := map[string]*framework.Footprint{}
	for name, image := range map[string]string{"qcow2": goodImage, "evil": evilImage} {
		footprints[name] = e.Track(t, ns, name)
		e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName(name), libvmi.WithContainerDisk("data", image, libvmi.ContainerDiskPath("/disk/root.qcow2"))))
	}

	console := e.GuestConsole(t, domainspec.Name(ns, "qcow2"))
	sum := sha256.Sum256([]byte(data))
	if want := "PODVIRT-DISK " + hex.EncodeToString(sum[:]); !strings.Contains(console, want) {
		t.Errorf("the guest did not read the containerDisk (want %q on its console):\n%s", want, console)
	}
	live, err := os.ReadFile(filepath.Join(framework.LibvirtRunDir, domainspec.Name(ns, "qcow2")+".xml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(live), "type='qcow2'") {
		t.Errorf("the running domain does not use the disk as qcow2:\n%s", live)
	}

	vmi := e.WaitForVMIPhase(t, ns, "evil", 120*time.Second, v1alpha1.Failed)
	if vmi.Status.Reason != "DomainRefused" {
		t.Errorf("reason %q, want DomainRefused", vmi.Status.Reason)
	}
	out, err := e.Kubectl("", "get", "events", "-n", ns, "--field-selector", "involvedObject.name=evil", "-o", "jsonpath={.items[*].message}")
	if err != nil || !strings.Contains(out, "backing file") {
		t.Errorf("no event saying why (backing file): %v\n%s", err, out)
	}
	// The refused VMI wrote nothing (its image is refused before any
	// overlay is made); the good one's overlay goes with the VMI.
	e.ExpectNoLeaks(t, footprints["evil"])
	e.DeleteVMI(t, ns, "qcow2", 120*time.Second)
	e.ExpectNoLeaks(t, footprints["qcow2"])
}
