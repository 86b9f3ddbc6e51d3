package framework

// Faults the tests inject on the node, and what they read back to judge
// the result: libvirtd restarted under running guests, a guest's QEMU
// killed, and the state of every domain of a VMI.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// LibvirtdPIDFile is the pid file of the node's libvirtd
// (test/local/up-libvirt.sh starts it with --pid-file there).
func (e *Env) LibvirtdPIDFile() string { return filepath.Join(e.State, "pids", "libvirtd.pid") }

// LibvirtdPID is the pid of the node's libvirtd, from its pid file.
func (e *Env) LibvirtdPID() (int, error) {
	raw, err := os.ReadFile(e.LibvirtdPIDFile())
	if err != nil {
		return 0, fmt.Errorf("reading libvirtd's pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || !processAlive(pid) {
		return 0, fmt.Errorf("libvirtd's pid file %s names no live process (%q)", e.LibvirtdPIDFile(), raw)
	}
	return pid, nil
}

// RestartLibvirtd stops the node's libvirtd as a service manager would
// (SIGTERM; running guests keep running, libvirtd does not stop them),
// runs whileDown (when not nil) and keeps it down for at least down, and
// starts it again with the very command line it ran with, as
// test/local/up-libvirt.sh started it. It returns how long libvirtd was
// away: from the SIGTERM until it answers on its socket again.
//
// The environment is shared by every test and the people using it: when
// the test fails between the stop and the start, its cleanup starts
// libvirtd again.
func (e *Env) RestartLibvirtd(t testing.TB, down time.Duration, whileDown func()) time.Duration {
	t.Helper()
	pid, err := e.LibvirtdPID()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatalf("reading libvirtd's command line: %v", err)
	}
	argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	if len(argv) == 0 || filepath.Base(argv[0]) != "libvirtd" {
		t.Fatalf("pid %d from %s is not libvirtd: %q", pid, e.LibvirtdPIDFile(), argv)
	}
	started := false
	t.Cleanup(func() {
		if !started {
			if err := e.startLibvirtd(argv); err != nil {
				t.Errorf("starting libvirtd again after the test: %v", err)
			}
		}
	})

	stopped := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to libvirtd (pid %d): %v", pid, err)
	}
	if err := Poll(context.Background(), 50*time.Millisecond, 30*time.Second, func(context.Context) (bool, error) {
		return !processAlive(pid), nil
	}); err != nil {
		t.Fatalf("libvirtd (pid %d) still runs 30s after SIGTERM", pid)
	}
	t.Logf("libvirtd (pid %d) stopped in %s", pid, time.Since(stopped).Round(time.Millisecond))
	if whileDown != nil {
		whileDown()
	}
	time.Sleep(time.Until(stopped.Add(down)))
	if err := e.startLibvirtd(argv); err != nil {
		t.Fatal(err)
	}
	started = true
	Eventually(t, "libvirtd answering on its socket again", 60*time.Second, func() (bool, error) {
		_, err := e.hv.lv.List()
		return err == nil, err
	})
	newPID, err := e.LibvirtdPID()
	if err != nil || newPID == pid {
		t.Fatalf("libvirtd is pid %d (%v) after its restart, was %d", newPID, err, pid)
	}
	away := time.Since(stopped)
	t.Logf("libvirtd back as pid %d, %s after the SIGTERM", newPID, away.Round(time.Millisecond))
	return away
}

// startLibvirtd runs argv (libvirtd -d ...: it daemonizes, writes its pid
// file and returns) in a session of its own, output appended to its log.
func (e *Env) startLibvirtd(argv []string) error {
	// The test may have inherited descriptors without close-on-exec (the
	// lock `flock` holds around a test run is one): a daemon started from
	// here would keep them, and the lock, for as long as it runs.
	if err := closeInheritedOnExec(); err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(e.State, "logs", "libvirtd.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("opening libvirtd's log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("starting libvirtd (%s): %w; see %s", strings.Join(argv, " "), err, logFile.Name())
	}
	return nil
}

// closeInheritedOnExec marks every open descriptor above stderr
// close-on-exec (Go opens its own so; inherited ones may not be).
func closeInheritedOnExec() error {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("listing this process's descriptors: %w", err)
	}
	for _, en := range entries {
		fd, err := strconv.Atoi(en.Name())
		if err != nil || fd <= 2 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			continue // the directory's own descriptor, closed by now
		}
		syscall.CloseOnExec(fd)
	}
	return nil
}

// QEMUPID is the pid of the domain's QEMU, from libvirt's pid file; 0
// with an error when the domain does not run.
func QEMUPID(domName string) (int, error) {
	raw, err := os.ReadFile(filepath.Join(LibvirtRunDir, domName+".pid"))
	if err != nil {
		return 0, fmt.Errorf("the QEMU pid of %s: %w", domName, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0, fmt.Errorf("the QEMU pid file of %s holds %q", domName, raw)
	}
	return pid, nil
}

// QEMUProcesses are the live QEMU processes of the domain: those named
// for it (-name guest=<domain>) or carrying the VMI's UID (-uuid).
func QEMUProcesses(domName string, uid types.UID) []int { return qemuProcesses(domName, uid) }

// OneDomain checks that the VMI has exactly one guest on the node: its
// libvirt domain runs, is the VMI's (UUID = the VMI's UID), and exactly
// one QEMU process runs for it, the one libvirt's pid file names. It
// returns that QEMU's pid.
func (e *Env) OneDomain(vmi *v1alpha1.VirtualMachineInstance) (int, error) {
	dom := domainspec.Name(vmi.Namespace, vmi.Name)
	state, err := e.DomainState(dom)
	if err != nil {
		return 0, err
	}
	if state != StateRunning {
		return 0, fmt.Errorf("domain %s is %s, want Running", dom, state)
	}
	uuid, err := e.DomainUUID(dom)
	if err != nil {
		return 0, err
	}
	if uuid != string(vmi.UID) {
		return 0, fmt.Errorf("domain %s has UUID %s, want the VMI's UID %s", dom, uuid, vmi.UID)
	}
	pid, err := QEMUPID(dom)
	if err != nil {
		return 0, err
	}
	procs := QEMUProcesses(dom, vmi.UID)
	if len(procs) != 1 || procs[0] != pid {
		return 0, fmt.Errorf("QEMU processes of domain %s: %v, want exactly its pid file's %d", dom, procs, pid)
	}
	return pid, nil
}

// NamespaceDomains are the libvirt domains defined for VMIs of namespace
// ns (named <ns>_<vmi>), by VMI name.
func (e *Env) NamespaceDomains(ns string) (map[string]DomainState, error) {
	names, err := e.Domains()
	if err != nil {
		return nil, err
	}
	out := map[string]DomainState{}
	for _, n := range names {
		if dns, name, ok := domainspec.ParseName(n); ok && dns == ns {
			state, err := e.DomainState(n)
			if err != nil {
				return nil, err
			}
			out[name] = state
		}
	}
	return out, nil
}

// BootCount is how many times the guest's serial console shows the tiny
// guest's ready marker: one per boot.
func (e *Env) BootCount(domName string) (int, error) {
	serial, err := e.Console(domName)
	return strings.Count(serial, ReadyMarker), err
}

// PhaseRecorder samples the phase of a namespace's VMIs in the background
// (every PollInterval) until Stop, and says how long each spent in a
// phase.
type PhaseRecorder struct {
	mu      sync.Mutex
	last    map[string]v1alpha1.VirtualMachineInstancePhase
	since   map[string]time.Time
	spent   map[string]map[v1alpha1.VirtualMachineInstancePhase]time.Duration
	reasons map[string]map[string]bool
	stop    context.CancelFunc
	done    chan struct{}
}

// RecordPhases starts a PhaseRecorder over the VMIs of ns; the test's end
// stops it if the test does not.
func (e *Env) RecordPhases(t testing.TB, ns string) *PhaseRecorder {
	ctx, cancel := context.WithCancel(context.Background())
	r := &PhaseRecorder{last: map[string]v1alpha1.VirtualMachineInstancePhase{}, since: map[string]time.Time{},
		spent: map[string]map[v1alpha1.VirtualMachineInstancePhase]time.Duration{}, reasons: map[string]map[string]bool{},
		stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_ = Poll(ctx, PollInterval, time.Hour, func(ctx context.Context) (bool, error) {
			list := &v1alpha1.VirtualMachineInstanceList{}
			if err := e.Client.List(ctx, list, client.InNamespace(ns)); err == nil {
				r.observe(list.Items, time.Now())
			}
			return false, nil
		})
	}()
	t.Cleanup(r.Stop)
	return r
}

func (r *PhaseRecorder) observe(vmis []v1alpha1.VirtualMachineInstance, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range vmis {
		name, phase := vmis[i].Name, vmis[i].Status.Phase
		if r.spent[name] == nil {
			r.spent[name] = map[v1alpha1.VirtualMachineInstancePhase]time.Duration{}
			r.reasons[name] = map[string]bool{}
		}
		if prev, ok := r.last[name]; ok {
			r.spent[name][prev] += now.Sub(r.since[name])
		}
		r.last[name], r.since[name] = phase, now
		if vmis[i].Status.Reason != "" {
			r.reasons[name][string(phase)+"/"+vmis[i].Status.Reason] = true
		}
	}
}

// Stop ends the sampling (once; later calls do nothing).
func (r *PhaseRecorder) Stop() {
	r.stop()
	<-r.done
}

// Spent is how long the VMI was seen in phase (within a sampling
// interval), and the phase/reason pairs it was seen with.
func (r *PhaseRecorder) Spent(name string, phase v1alpha1.VirtualMachineInstancePhase) (time.Duration, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.spent[name][phase]
	if r.last[name] == phase {
		d += time.Since(r.since[name])
	}
	var reasons []string
	for pr := range r.reasons[name] {
		reasons = append(reasons, pr)
	}
	return d, reasons
}

// Seen says whether the VMI was ever seen in phase.
func (r *PhaseRecorder) Seen(name string, phase v1alpha1.VirtualMachineInstancePhase) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.spent[name][phase]
	return ok || r.last[name] == phase
}

// PIDSampler records, in the background, every QEMU pid each domain of a
// set has had, so that a test can tell a guest started twice from one
// that kept its process.
type PIDSampler struct {
	mu   sync.Mutex
	pids map[string][]int
	stop context.CancelFunc
	done chan struct{}
}

// SamplePIDs starts a PIDSampler over domains (every 100ms, from libvirt's
// pid files); the test's end stops it if the test does not.
func SamplePIDs(t testing.TB, domains []string) *PIDSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &PIDSampler{pids: map[string][]int{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = Poll(ctx, 100*time.Millisecond, time.Hour, func(context.Context) (bool, error) {
			for _, d := range domains {
				pid, err := QEMUPID(d)
				if err != nil || pid == 0 {
					continue
				}
				s.mu.Lock()
				if seen := s.pids[d]; len(seen) == 0 || seen[len(seen)-1] != pid {
					s.pids[d] = append(seen, pid)
				}
				s.mu.Unlock()
			}
			return false, nil
		})
	}()
	t.Cleanup(s.Stop)
	return s
}

// Stop ends the sampling (once; later calls do nothing).
func (s *PIDSampler) Stop() {
	s.stop()
	<-s.done
}

// PIDs are the QEMU pids the domain had, in the order seen.
func (s *PIDSampler) PIDs(domName string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.pids[domName]...)
}
