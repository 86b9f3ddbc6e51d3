package nodeagent

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// withSerialConsole adds the serial console as the renderer writes it.
func withSerialConsole(socket, logFile string) func(*libvirtxml.Domain) {
	return func(d *libvirtxml.Domain) {
		port := uint(0)
		d.Devices.Serials = []libvirtxml.DomainSerial{{
			Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind", Path: socket}},
			Log:    &libvirtxml.DomainChardevLog{File: logFile, Append: "on"},
			Target: &libvirtxml.DomainSerialTarget{Port: &port},
		}}
	}
}

// The serial console's socket is bound through the agent's link in the
// VMI's socket directory, which points at the VMI's directory in the
// Pod's volume; once QEMU made the socket, it is given to the launcher's
// user.
func TestDefineSerialConsole(t *testing.T) {
	r, c, hv, _ := defineSetup(t, signedDomain(t, withSerialConsole(domainspec.SerialSocketFile, domainspec.SerialLogFile)))
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != v1alpha1.Running {
		t.Fatalf("phase %q reason %q, want Running", vmi.Status.Phase, vmi.Status.Reason)
	}
	dom, err := domainspec.Parse(hv.defined)
	if err != nil {
		t.Fatal(err)
	}
	p := &corev1.Pod{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p); err != nil {
		t.Fatal(err)
	}
	vmiDir, _ := r.Storage.Dir(p)
	socketDir := filepath.Join(r.Options.StateDir, "vmis", "uid-1")
	s := dom.Devices.Serials[0]
	if want := filepath.Join(socketDir, domainspec.VMIDirLink, domainspec.SerialSocketFile); s.Source.UNIX.Path != want {
		t.Errorf("socket %q, want %q", s.Source.UNIX.Path, want)
	}
	if want := filepath.Join(vmiDir, domainspec.SerialLogFile); s.Log.File != want {
		t.Errorf("log %q, want %q", s.Log.File, want)
	}
	if target, err := os.Readlink(filepath.Join(socketDir, domainspec.VMIDirLink)); err != nil || target != vmiDir {
		t.Errorf("link %q (%v), want it to point at %s", target, err, vmiDir)
	}

	// QEMU binds it (here: the test, through the link); the next pass
	// shares it.
	l, err := net.Listen("unix", s.Source.UNIX.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	reconcileAndGet(t, r, c)
	if os.Geteuid() != 0 {
		t.Skip("only root may give the socket to the launcher's user")
	}
	fi, err := os.Lstat(filepath.Join(vmiDir, domainspec.SerialSocketFile))
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket in the VMI's directory: %v %v, want a socket with mode 0660", fi, err)
	}
}

// A domain whose serial socket is anywhere else is refused before any
// host change.
func TestDefineRefusesAnotherSerialSocket(t *testing.T) {
	r, c, hv, log := defineSetup(t, signedDomain(t, withSerialConsole("other.sock", domainspec.SerialLogFile)))
	vmi := reconcileAndGet(t, r, c)
	if vmi.Status.Phase != v1alpha1.Failed || hv.defined != "" || len(log.calls) != 0 {
		t.Fatalf("phase %q reason %q, defined %v, host changes %q: want refused before anything", vmi.Status.Phase, vmi.Status.Reason, hv.defined != "", log.calls)
	}
}

func TestLinkVMIDirReplacesAStaleLink(t *testing.T) {
	dir := t.TempDir()
	for _, target := range []string{"/old/vmi", "/new/vmi", "/new/vmi"} {
		if err := linkVMIDir(dir, target); err != nil {
			t.Fatal(err)
		}
		if got, err := os.Readlink(filepath.Join(dir, domainspec.VMIDirLink)); err != nil || got != target {
			t.Fatalf("link %q (%v), want %q", got, err, target)
		}
	}
}

// A state directory too long for a unix socket's path fails the VMI with
// a reason that says what to change, before anything is touched.
func TestSerialSocketPathTooLong(t *testing.T) {
	r, c, hv, log := defineSetup(t, signedDomain(t, withSerialConsole(domainspec.SerialSocketFile, domainspec.SerialLogFile)))
	r.Options.StateDir = filepath.Join(r.Options.StateDir, strings.Repeat("d", 80))
	vmi := reconcileAndGet(t, r, c)
	if vmi.Status.Phase != v1alpha1.Failed || hv.defined != "" || len(log.calls) != 0 {
		t.Fatalf("phase %q reason %q, defined %v, host changes %q: want refused before anything", vmi.Status.Phase, vmi.Status.Reason, hv.defined != "", log.calls)
	}
}
