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
// console: in the VMI's directory in its launcher Pod's vmi-state volume,
// so the VMI and its Pod are read first ("" when they cannot be).
func (e *Env) SerialLog(domName string) string {
	ns, name, ok := domainspec.ParseName(domName)
	if !ok {
		return ""
	}
	ctx := context.Background()
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, vmi); err != nil {
		return ""
	}
	pods, err := e.launcherPods(ctx, ns, name)
	if err != nil {
		return ""
	}
	for i := range pods {
		if pods[i].Labels[domainspec.LabelVMIUID] != string(vmi.UID) {
			continue
		}
		if dir, err := e.PodVMIDir(&pods[i]); err == nil {
			return filepath.Join(dir, domain.SerialLogFile)
		}
	}
	return ""
}

// Console returns the guest's serial console so far ("" before it has
// one): what the node agent rotated aside (the log's last 8 MiB before its
// last rotation), then the live log.
func (e *Env) Console(domName string) (string, error) {
	path := e.SerialLog(domName)
	if path == "" {
		return "", nil
	}
	var out []byte
	for _, p := range []string{path + ".1", path} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			return "", err
		}
		out = append(out, b...)
	}
	return string(out), nil
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
