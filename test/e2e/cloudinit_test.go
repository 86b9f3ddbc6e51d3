//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// TestCloudInitNoCloud gives a guest cloud-init NoCloud data and checks
// what the guest reads: the tiny guest finds the disk by its label
// (cidata) as cloud-init does, mounts it and prints the SHA-256 of each
// file on its console.
func TestCloudInitNoCloud(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	userData := fmt.Sprintf("#cloud-config\nhostname: podvirt-e2e\n# nonce %d\n", time.Now().UnixNano())
	networkData := "version: 2\nethernets: {}\n"
	footprint := e.Track(t, ns, "ci")
	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName("ci"), libvmi.WithCloudInitNoCloud("data",
		libvmi.NoCloudUserData(userData),
		libvmi.NoCloudNetworkDataBase64(base64.StdEncoding.EncodeToString([]byte(networkData))))))
	console := e.GuestConsole(t, domainspec.Name(ns, "ci"))
	vmi := e.VMI(t, ns, "ci")
	for file, content := range map[string]string{
		"meta-data":      "instance-id: " + string(vmi.UID) + "\nlocal-hostname: ci\n",
		"user-data":      userData,
		"network-config": networkData,
	} {
		sum := sha256.Sum256([]byte(content))
		if want := "PODVIRT-CIDATA " + file + " " + hex.EncodeToString(sum[:]); !strings.Contains(console, want) {
			t.Errorf("the guest did not read %s as given (want %q on its console):\n%s", file, want, console)
		}
	}
	// The cloud-init disk the node agent wrote goes with the VMI.
	e.DeleteVMI(t, ns, "ci", 120*time.Second)
	e.ExpectNoLeaks(t, footprint)
}

// TestCloudInitNoCloudFromSecret takes the user data from a Secret: the
// launcher Pod mounts it (no permission beyond creating a Pod), the node
// agent reads it where the kubelet put it, and the guest reads it back.
func TestCloudInitNoCloudFromSecret(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	userData := fmt.Sprintf("#cloud-config\nfrom: secret\n# nonce %d\n", time.Now().UnixNano())
	if out, err := e.Kubectl("", "create", "secret", "generic", "-n", ns, "vm-cloud-init", "--from-literal=userdata="+userData); err != nil {
		t.Fatalf("creating the Secret: %v\n%s", err, out)
	}
	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName("cisecret"), libvmi.WithCloudInitNoCloud("data", libvmi.NoCloudUserDataSecret("vm-cloud-init"))))
	console := e.GuestConsole(t, domainspec.Name(ns, "cisecret"))
	sum := sha256.Sum256([]byte(userData))
	if want := "PODVIRT-CIDATA user-data " + hex.EncodeToString(sum[:]); !strings.Contains(console, want) {
		t.Errorf("the guest did not read the Secret's user data (want %q on its console):\n%s", want, console)
	}
}
