package hypervisor

import (
	"fmt"
	"testing"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/libvirttest"
)

func TestStateOf(t *testing.T) {
	for _, c := range []struct {
		state  libvirt.DomainState
		reason int32
		want   DomainState
	}{
		{libvirt.DomainRunning, 1, StateRunning},
		{libvirt.DomainPaused, 0, StateRunning},
		{libvirt.DomainBlocked, 0, StateRunning},
		{libvirt.DomainShutdown, 1, StateRunning}, // shutting down: still up
		{libvirt.DomainPmsuspended, 0, StateRunning},
		{libvirt.DomainShutoff, int32(libvirt.DomainShutoffShutdown), StateShutoff},
		{libvirt.DomainShutoff, int32(libvirt.DomainShutoffDestroyed), StateShutoff},
		{libvirt.DomainShutoff, int32(libvirt.DomainShutoffCrashed), StateCrashed},
		{libvirt.DomainShutoff, int32(libvirt.DomainShutoffFailed), StateCrashed},
		{libvirt.DomainCrashed, 0, StateCrashed},
	} {
		if got := stateOf(c.state, c.reason); got != c.want {
			t.Errorf("stateOf(%d, %d) = %s, want %s", c.state, c.reason, got, c.want)
		}
	}
}

func TestDomainStateString(t *testing.T) {
	for s, want := range map[DomainState]string{StateAbsent: "Absent", StateRunning: "Running", StateShutoff: "Shutoff", StateCrashed: "Crashed"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
}

// The mock libvirtd of go-libvirt answers with a running domain; the
// end-to-end suite runs the real one.
func TestLibvirtOverTheWire(t *testing.T) {
	l := &Libvirt{Dialer: libvirttest.New()}
	defer l.Close()
	if state, err := l.State("test"); err != nil || state != StateRunning {
		t.Errorf("State = %v, %v; want Running", state, err)
	}
	if err := l.Shutdown("test"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := l.Undefine("test"); err != nil {
		t.Errorf("Undefine: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

// libvirt's test driver answers the ACPI shutdown and NVRAM undefine flags
// so; Shutdown and Undefine then call again without them.
func TestIsUnsupportedFlags(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{libvirt.Error{Code: uint32(libvirt.ErrInvalidArg), Message: "unsupported flags (0x1) in function testDomainShutdownFlags"}, true},
		{fmt.Errorf("domain x: %w", libvirt.Error{Code: uint32(libvirt.ErrInvalidArg), Message: "unsupported flags (0x4) in function testDomainUndefineFlags"}), true},
		{libvirt.Error{Code: uint32(libvirt.ErrInvalidArg), Message: "invalid argument: bad name"}, false},
		{libvirt.Error{Code: uint32(libvirt.ErrOperationInvalid), Message: "domain is not running"}, false},
		{nil, false},
	} {
		if got := isUnsupportedFlags(tc.err); got != tc.want {
			t.Errorf("isUnsupportedFlags(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
