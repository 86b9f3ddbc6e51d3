//go:build e2e

package e2e

import (
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

// TestEFIGuestBoots runs an EFI VMI: the node's libvirt picks Secure Boot
// firmware with enrolled keys from its descriptors, the guest boots, and
// deleting the VMI removes the domain with its variable store.
func TestEFIGuestBoots(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	applied := time.Now()
	footprint := e.Track(t, ns, "efi")
	// The tiny guest's EFI-stub kernel through OVMF with Secure Boot (the
	// default for EFI).
	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName("efi"), libvmi.WithTinyEFI(), libvmi.WithMemory("256Mi")))
	domName := domainspec.Name(ns, "efi")
	e.GuestConsole(t, domName)
	t.Logf("kubectl apply -> EFI guest ready marker: %s", time.Since(applied).Round(time.Millisecond))

	vmi := e.VMI(t, ns, "efi")
	if vmi.Status.Phase != v1alpha1.Running {
		t.Errorf("phase %s, want Running", vmi.Status.Phase)
	}
	if f := vmi.Spec.Domain.Features; f == nil || f.SMM == nil || f.SMM.Enabled == nil || !*f.SMM.Enabled {
		t.Errorf("features %+v: the webhook must turn SMM on for Secure Boot", f)
	}
	// What libvirt made of the request: Secure Boot firmware, a store.
	live, err := os.ReadFile(filepath.Join(framework.LibvirtRunDir, domName+".xml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"secure='yes'", "<smm state='on'/>", "<nvram "} {
		if !strings.Contains(string(live), want) {
			t.Errorf("running domain lacks %q:\n%s", want, live)
		}
	}
	nvram := filepath.Join(framework.LibvirtLibDir, "nvram", domName+"_VARS.fd")
	if _, err := os.Stat(nvram); err != nil {
		t.Errorf("variable store: %v", err)
	}

	if out, err := e.Kubectl("", "delete", "-n", ns, "vmi", "efi", "--timeout=120s"); err != nil {
		t.Fatalf("kubectl delete: %v\n%s", err, out)
	}
	e.WaitForGone(t, "VMI gone", 60*time.Second, vmi)
	if state, err := e.DomainState(domName); err != nil || state != framework.StateAbsent {
		t.Errorf("libvirt domain %s state = %v, %v; want Absent", domName, state, err)
	}
	if _, err := os.Stat(nvram); !os.IsNotExist(err) {
		t.Errorf("the variable store outlived its domain: %v", err)
	}
	e.ExpectNoLeaks(t, footprint)
}
