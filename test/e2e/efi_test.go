//go:build e2e

package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

// efiVMI boots the tiny guest's EFI-stub kernel through OVMF with Secure
// Boot (the default for EFI).
var efiVMI = strings.NewReplacer(
	"    firmware:\n", "    firmware:\n      bootloader:\n        efi: {}\n",
	"/boot/vmlinux", "/boot/vmlinuz",
	"guest: 128Mi", "guest: 256Mi",
).Replace(tinyGuest("efi"))

// TestEFIGuestBoots runs an EFI VMI: the node's libvirt picks Secure Boot
// firmware with enrolled keys from its descriptors, the guest boots, and
// deleting the VMI removes the domain with its variable store.
func TestEFIGuestBoots(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.namespace(t)
	applied := time.Now()
	if out, err := e.kubectlRun(efiVMI, "apply", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	domName := domainspec.Name(ns, "efi")
	guestConsole(t, e, domName)
	logf(t, "kubectl apply -> EFI guest ready marker: %s", time.Since(applied).Round(time.Millisecond))

	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "efi"}, vmi); err != nil {
		t.Fatal(err)
	}
	if vmi.Status.Phase != v1alpha1.Running {
		t.Errorf("phase %s, want Running", vmi.Status.Phase)
	}
	if f := vmi.Spec.Domain.Features; f == nil || f.SMM == nil || f.SMM.Enabled == nil || !*f.SMM.Enabled {
		t.Errorf("features %+v: the webhook must turn SMM on for Secure Boot", f)
	}
	// What libvirt made of the request: Secure Boot firmware, a store.
	live, err := os.ReadFile("/var/run/libvirt/qemu/" + domName + ".xml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"secure='yes'", "<smm state='on'/>", "<nvram "} {
		if !strings.Contains(string(live), want) {
			t.Errorf("running domain lacks %q:\n%s", want, live)
		}
	}
	nvram := "/var/lib/libvirt/qemu/nvram/" + domName + "_VARS.fd"
	if _, err := os.Stat(nvram); err != nil {
		t.Errorf("variable store: %v", err)
	}

	if out, err := e.kubectlRun("", "delete", "-n", ns, "vmi", "efi", "--timeout=120s"); err != nil {
		t.Fatalf("kubectl delete: %v\n%s", err, out)
	}
	eventually(t, "VMI gone", 60*time.Second, func() (bool, error) {
		err := e.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "efi"}, &v1alpha1.VirtualMachineInstance{})
		return apierrors.IsNotFound(err), err
	})
	if state, err := e.libvirt.State(domName); err != nil || state != hypervisor.StateAbsent {
		t.Errorf("libvirt domain %s state = %v, %v; want Absent", domName, state, err)
	}
	if _, err := os.Stat(nvram); !os.IsNotExist(err) {
		t.Errorf("the variable store outlived its domain: %v", err)
	}
}
