package framework

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/launcher/domain"
	"k8s.io/apimachinery/pkg/types"
)

// ReadyMarker is what the tiny guest prints on its console once it is up.
const ReadyMarker = "PODVIRT-GUEST-READY"

// ConsoleTimeout is how long a QEMU (TCG) guest may take to be ready.
const ConsoleTimeout = 180 * time.Second

// SerialLog is where the node agent has libvirt write the guest's serial
// console: in the directory of the VMI's UID, so the VMI is read first
// ("" when it cannot be).
func (e *Env) SerialLog(domName string) string {
	ns, name, ok := domainspec.ParseName(domName)
	if !ok {
		return ""
	}
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, vmi); err != nil {
		return ""
	}
	return filepath.Join(e.VMIDir(vmi.UID), domain.SerialLogFile)
}

// Console returns the guest's serial console so far ("" before it has one).
func (e *Env) Console(domName string) (string, error) {
	path := e.SerialLog(domName)
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return "", nil
	}
	return string(b), err
}

// GuestConsole waits for the guest's ready marker on its console and
// returns the console.
func (e *Env) GuestConsole(t testing.TB, domName string) string {
	t.Helper()
	return e.WaitForConsole(t, domName, ReadyMarker, ConsoleTimeout)
}

// WaitForConsole waits until the guest's console holds want and returns it.
func (e *Env) WaitForConsole(t testing.TB, domName, want string, timeout time.Duration) string {
	t.Helper()
	var console string
	Eventually(t, "the guest's console to show "+want, timeout, func() (bool, error) {
		var err error
		console, err = e.Console(domName)
		return strings.Contains(console, want), err
	})
	return console
}
