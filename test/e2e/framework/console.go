package framework

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podvirt/podvirt/launcher/domain"
)

// ReadyMarker is what the tiny guest prints on its console once it is up.
const ReadyMarker = "PODVIRT-GUEST-READY"

// ConsoleTimeout is how long a QEMU (TCG) guest may take to be ready.
const ConsoleTimeout = 180 * time.Second

// SerialLog is where the node agent has libvirt write the guest's serial
// console.
func (e *Env) SerialLog(domName string) string {
	return filepath.Join(e.VMIDir(domName), domain.SerialLogFile)
}

// Console returns the guest's serial console so far ("" before it has one).
func (e *Env) Console(domName string) (string, error) {
	b, err := os.ReadFile(e.SerialLog(domName))
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
