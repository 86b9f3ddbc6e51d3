//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// TestCloudInitNoCloud gives a guest cloud-init NoCloud data and checks
// what the guest reads: the tiny guest finds the disk by its label
// (cidata) as cloud-init does, mounts it and prints the SHA-256 of each
// file on its console.
func TestCloudInitNoCloud(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.namespace(t)
	userData := fmt.Sprintf("#cloud-config\nhostname: podvirt-e2e\n# nonce %d\n", time.Now().UnixNano())
	networkData := "version: 2\nethernets: {}\n"
	manifest := withDataDisk(tinyGuest("ci"), fmt.Sprintf("cloudInitNoCloud: {userData: %q, networkDataBase64: %q}",
		userData, base64.StdEncoding.EncodeToString([]byte(networkData))))
	if out, err := e.kubectlRun(manifest, "apply", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	console := guestConsole(t, e, domainspec.Name(ns, "ci"))
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "ci"}, vmi); err != nil {
		t.Fatal(err)
	}
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
}

// TestCloudInitNoCloudFromSecret takes the user data from a Secret: the
// launcher Pod mounts it (no permission beyond creating a Pod), the node
// agent reads it where the kubelet put it, and the guest reads it back.
func TestCloudInitNoCloudFromSecret(t *testing.T) {
	e := newEnv(t)
	ns := e.namespace(t)
	userData := fmt.Sprintf("#cloud-config\nfrom: secret\n# nonce %d\n", time.Now().UnixNano())
	if out, err := e.kubectlRun("", "create", "secret", "generic", "-n", ns, "vm-cloud-init", "--from-literal=userdata="+userData); err != nil {
		t.Fatalf("creating the Secret: %v\n%s", err, out)
	}
	manifest := withDataDisk(tinyGuest("cisecret"), "cloudInitNoCloud: {secretRef: {name: vm-cloud-init}}")
	if out, err := e.kubectlRun(manifest, "apply", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	console := guestConsole(t, e, domainspec.Name(ns, "cisecret"))
	sum := sha256.Sum256([]byte(userData))
	if want := "PODVIRT-CIDATA user-data " + hex.EncodeToString(sum[:]); !strings.Contains(console, want) {
		t.Errorf("the guest did not read the Secret's user data (want %q on its console):\n%s", want, console)
	}
}

// guestConsole waits for the guest's ready marker and returns its console.
func guestConsole(t *testing.T, e *env, domName string) string {
	t.Helper()
	serial := e.serialLog(t, domName)
	var console string
	eventually(t, "the guest's ready marker", 180*time.Second, func() (bool, error) {
		b, err := os.ReadFile(serial)
		if os.IsNotExist(err) {
			return false, nil
		}
		console = string(b)
		return strings.Contains(console, "PODVIRT-GUEST-READY"), err
	})
	return console
}
