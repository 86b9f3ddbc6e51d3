// Package hypervisor is the part of libvirt the node agent uses, by domain
// name (Hypervisor), and its implementation over libvirtd's unix socket with
// go-libvirt, no cgo (Libvirt). It imports nothing of podvirt's.
package hypervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// DomainState is what the node agent needs to know of a domain.
type DomainState int

// Domain states.
const (
	// StateAbsent: no domain of that name is defined.
	StateAbsent DomainState = iota
	// StateRunning: the guest runs (or is paused, blocked, shutting down).
	StateRunning
	// StateShutoff: defined, not running, after a clean power-off.
	StateShutoff
	// StateCrashed: defined, not running, after a crash or failure.
	StateCrashed
)

func (s DomainState) String() string {
	return [...]string{"Absent", "Running", "Shutoff", "Crashed"}[s]
}

// Hypervisor is the part of libvirt the node agent uses, by domain name.
type Hypervisor interface {
	Define(domainXML string) error
	Start(name string) error
	State(name string) (DomainState, error)
	Shutdown(name string) error
	Destroy(name string) error
	Undefine(name string) error
	// XML is the domain's current definition; "" when it is absent.
	XML(name string) (string, error)
	// List names every defined domain, podvirt's or not.
	List() ([]string, error)
}

// EventSource is a Hypervisor that tells when a domain's state changes, so
// the agent reacts at once instead of at its next poll.
type EventSource interface {
	DomainEvents(ctx context.Context) (<-chan string, error)
}

// Libvirt is a Hypervisor over libvirtd's unix socket. It reconnects when
// the connection drops (libvirtd restarts keep domains running).
type Libvirt struct {
	// Socket is the path of libvirtd's read-write socket.
	Socket string
	// URI is the connect URI, qemu:///system by default.
	URI string
	// Dialer, when set, connects instead of Socket (tests).
	Dialer socket.Dialer

	mu   sync.Mutex
	conn *libvirt.Libvirt
}

func (l *Libvirt) client() (*libvirt.Libvirt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil && l.conn.IsConnected() {
		return l.conn, nil
	}
	uri := libvirt.ConnectURI(l.URI)
	if uri == "" {
		uri = libvirt.QEMUSystem
	}
	dialer := l.Dialer
	if dialer == nil {
		dialer = dialers.NewLocal(dialers.WithSocket(l.Socket), dialers.WithLocalTimeout(5*time.Second))
	}
	conn := libvirt.NewWithDialer(dialer)
	if err := conn.ConnectToURI(uri); err != nil {
		return nil, fmt.Errorf("connecting to libvirtd at %s: %w", l.Socket, err)
	}
	l.conn = conn
	return conn, nil
}

// Close disconnects from libvirtd.
func (l *Libvirt) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	err := l.conn.Disconnect()
	l.conn = nil
	return err
}

// Define implements Hypervisor.
func (l *Libvirt) Define(domainXML string) error {
	c, err := l.client()
	if err != nil {
		return err
	}
	if _, err := c.DomainDefineXML(domainXML); err != nil {
		return fmt.Errorf("defining the domain: %w", err)
	}
	return nil
}

func (l *Libvirt) lookup(name string) (*libvirt.Libvirt, libvirt.Domain, error) {
	c, err := l.client()
	if err != nil {
		return nil, libvirt.Domain{}, err
	}
	d, err := c.DomainLookupByName(name)
	return c, d, err
}

// Start implements Hypervisor.
func (l *Libvirt) Start(name string) error {
	c, d, err := l.lookup(name)
	if err != nil {
		return fmt.Errorf("starting domain %s: %w", name, err)
	}
	if err := c.DomainCreate(d); err != nil {
		return fmt.Errorf("starting domain %s: %w", name, err)
	}
	return nil
}

// PausedStarter is a Hypervisor that can start a domain with its vCPUs
// paused: QEMU runs and has opened its disks, and the guest has not run
// an instruction. The node agent checks what QEMU opened before it lets
// the guest run.
type PausedStarter interface {
	StartPaused(name string) error
	Resume(name string) error
	// Paused reports whether, and why, the domain is paused.
	Paused(name string) (Pause, error)
}

// Pause is why a domain's vCPUs are stopped, as far as the node agent
// cares.
type Pause int

const (
	// NotPaused: the domain is not paused (running, or not running at all).
	NotPaused Pause = iota
	// PausedStartingUp: libvirt is still starting the domain (it runs
	// every QEMU paused until its start is done), whether it will then run
	// or stay paused. An agent restarted in the middle of another start
	// sees this: it must wait, neither adopt nor destroy.
	PausedStartingUp
	// PausedHeld: the domain was started paused (StartPaused) and is held
	// so; its guest has not run.
	PausedHeld
	// PausedOther: paused for another reason (I/O error, a save, by hand).
	PausedOther
)

// StartPaused implements PausedStarter.
func (l *Libvirt) StartPaused(name string) error {
	c, d, err := l.lookup(name)
	if err != nil {
		return fmt.Errorf("starting domain %s paused: %w", name, err)
	}
	if _, err := c.DomainCreateWithFlags(d, uint32(libvirt.DomainStartPaused)); err != nil {
		return fmt.Errorf("starting domain %s paused: %w", name, err)
	}
	return nil
}

// Resume implements PausedStarter.
func (l *Libvirt) Resume(name string) error {
	c, d, err := l.lookup(name)
	if err != nil {
		return fmt.Errorf("resuming domain %s: %w", name, err)
	}
	if err := c.DomainResume(d); err != nil {
		return fmt.Errorf("resuming domain %s: %w", name, err)
	}
	return nil
}

// Paused implements PausedStarter.
func (l *Libvirt) Paused(name string) (Pause, error) {
	c, d, err := l.lookup(name)
	if err != nil {
		return NotPaused, fmt.Errorf("looking up domain %s: %w", name, err)
	}
	state, reason, err := c.DomainGetState(d, 0)
	if err != nil {
		return NotPaused, fmt.Errorf("reading the state of domain %s: %w", name, err)
	}
	if libvirt.DomainState(state) != libvirt.DomainPaused {
		return NotPaused, nil
	}
	// libvirt's QEMU driver marks a domain paused "starting up" while it
	// launches it, and "user" once a start with VIR_DOMAIN_START_PAUSED
	// is done (qemuProcessLaunch, qemuProcessFinishStartup).
	switch libvirt.DomainPausedReason(reason) {
	case libvirt.DomainPausedStartingUp:
		return PausedStartingUp, nil
	case libvirt.DomainPausedUser:
		return PausedHeld, nil
	}
	return PausedOther, nil
}

// State implements Hypervisor.
func (l *Libvirt) State(name string) (DomainState, error) {
	c, d, err := l.lookup(name)
	if libvirt.IsNotFound(err) {
		return StateAbsent, nil
	}
	if err != nil {
		return StateAbsent, fmt.Errorf("looking up domain %s: %w", name, err)
	}
	state, reason, err := c.DomainGetState(d, 0)
	if libvirt.IsNotFound(err) {
		return StateAbsent, nil
	}
	if err != nil {
		return StateAbsent, fmt.Errorf("reading the state of domain %s: %w", name, err)
	}
	return stateOf(libvirt.DomainState(state), reason), nil
}

// stateOf maps libvirt's state and reason to what the node agent needs: a
// domain that is not off runs (paused, blocked and shutting down
// included); off after a crash or a failure to start is Crashed.
func stateOf(state libvirt.DomainState, reason int32) DomainState {
	switch state {
	case libvirt.DomainShutoff:
		switch libvirt.DomainShutoffReason(reason) {
		case libvirt.DomainShutoffCrashed, libvirt.DomainShutoffFailed:
			return StateCrashed
		}
		return StateShutoff
	case libvirt.DomainCrashed:
		return StateCrashed
	default:
		return StateRunning
	}
}

// Shutdown implements Hypervisor: an ACPI power button press.
func (l *Libvirt) Shutdown(name string) error {
	return l.ignoreAbsent(name, func(c *libvirt.Libvirt, d libvirt.Domain) error {
		err := c.DomainShutdownFlags(d, libvirt.DomainShutdownAcpiPowerBtn)
		if isUnsupportedFlags(err) {
			// A driver with no ACPI (libvirt's test driver) has one way only.
			err = c.DomainShutdown(d)
		}
		return err
	})
}

// Destroy implements Hypervisor.
func (l *Libvirt) Destroy(name string) error {
	return l.ignoreAbsent(name, func(c *libvirt.Libvirt, d libvirt.Domain) error { return c.DomainDestroy(d) })
}

// Undefine implements Hypervisor.
func (l *Libvirt) Undefine(name string) error {
	// An EFI domain's variable store goes with it (libvirt refuses to
	// undefine it otherwise); the flag is a no-op for the others.
	return l.ignoreAbsent(name, func(c *libvirt.Libvirt, d libvirt.Domain) error {
		err := c.DomainUndefineFlags(d, libvirt.DomainUndefineNvram)
		if isUnsupportedFlags(err) {
			// A driver with no NVRAM (libvirt's test driver) takes no flag.
			err = c.DomainUndefineFlags(d, 0)
		}
		return err
	})
}

func (l *Libvirt) ignoreAbsent(name string, op func(*libvirt.Libvirt, libvirt.Domain) error) error {
	c, d, err := l.lookup(name)
	if libvirt.IsNotFound(err) {
		return nil
	}
	if err == nil {
		err = op(c, d)
	}
	if err != nil && !libvirt.IsNotFound(err) && !isNotRunning(err) {
		return fmt.Errorf("domain %s: %w", name, err)
	}
	return nil
}

// isUnsupportedFlags is libvirt's answer to flags its driver does not
// know (virCheckFlags: VIR_ERR_INVALID_ARG, "unsupported flags").
func isUnsupportedFlags(err error) bool {
	var lerr libvirt.Error
	return errors.As(err, &lerr) && lerr.Code == uint32(libvirt.ErrInvalidArg) && strings.Contains(lerr.Message, "unsupported flags")
}

// isNotRunning is libvirt's "domain is not running" (VIR_ERR_OPERATION_INVALID),
// which shutdown and destroy answer for a domain that already stopped.
func isNotRunning(err error) bool {
	var lerr libvirt.Error
	return errors.As(err, &lerr) && lerr.Code == uint32(libvirt.ErrOperationInvalid)
}

// DomainEvents streams the names of domains whose lifecycle changed
// (started, stopped, shut down, crashed, ...). The channel closes when the
// connection to libvirtd drops; subscribe again then.
func (l *Libvirt) DomainEvents(ctx context.Context) (<-chan string, error) {
	c, err := l.client()
	if err != nil {
		return nil, err
	}
	events, err := c.LifecycleEvents(ctx)
	if err != nil {
		return nil, fmt.Errorf("subscribing to libvirt lifecycle events: %w", err)
	}
	names := make(chan string)
	go func() {
		defer close(names)
		for ev := range events { // drained to the end: libvirt's stream blocks otherwise
			select {
			case names <- ev.Dom.Name:
			case <-ctx.Done():
			}
		}
	}()
	return names, nil
}

// XML implements Hypervisor: the persistent definition, "" when absent.
func (l *Libvirt) XML(name string) (string, error) {
	c, d, err := l.lookup(name)
	if libvirt.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("looking up domain %s: %w", name, err)
	}
	xml, err := c.DomainGetXMLDesc(d, libvirt.DomainXMLInactive)
	if libvirt.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the definition of domain %s: %w", name, err)
	}
	return xml, nil
}

// List implements Hypervisor.
func (l *Libvirt) List() ([]string, error) {
	c, err := l.client()
	if err != nil {
		return nil, err
	}
	doms, _, err := c.ConnectListAllDomains(1, 0)
	if err != nil {
		return nil, fmt.Errorf("listing domains: %w", err)
	}
	names := make([]string, 0, len(doms))
	for _, d := range doms {
		names = append(names, d.Name)
	}
	return names, nil
}
