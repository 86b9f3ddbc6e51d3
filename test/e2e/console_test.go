//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// TestConsole opens the tiny guest's serial console with podvirtctl as a
// namespace editor (impersonated: the "edit" ClusterRole holds create on
// pods/exec), types a command into the guest's shell and reads its output;
// leaves with ^] and connects again (QEMU's chardev serves the next
// client); the serial log kept what both consoles showed. A user without
// pods/exec on the launcher Pod is refused by the API server, and
// podvirtctl says which permission is missing.
func TestConsole(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	e.editor(t, ns, "alice")
	e.noStreams(t, ns, "bob")
	ctl := e.podvirtctl(t)
	dom := domainspec.Name(ns, libvmi.TinyName)

	footprint := e.Track(t, ns, libvmi.TinyName)
	e.Apply(t, ns, libvmi.NewTiny(), "--as", "alice")
	e.GuestConsole(t, dom)

	for _, n := range []int{6, 7} {
		// The guest computes the marker: the echo of what was typed
		// does not hold it.
		want := fmt.Sprintf("PODVIRT-CONSOLE-%d", n*7)
		s := e.startConsole(t, ctl, ns, "alice", libvmi.TinyName)
		s.typeUntil(t, fmt.Sprintf("echo PODVIRT-CONSOLE-$((%d*7))\n", n), want, 90*time.Second)
		s.escape(t)
		if !strings.Contains(s.stderr.String(), "Escape character is ^]") {
			t.Errorf("the console did not say how to leave; stderr:\n%s", s.stderr.String())
		}
	}
	e.WaitForConsole(t, dom, "PODVIRT-CONSOLE-49", 30*time.Second)

	out, err := exec.Command(ctl, "console", libvmi.TinyName, "--kubeconfig", e.Kubeconfig, "--as", "bob", "-n", ns).CombinedOutput()
	want := fmt.Sprintf("Forbidden: you need create on pods/exec for pod %s in namespace %s", domainspec.PodName(libvmi.TinyName), ns)
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("console as a user without pods/exec: %v\n%s\nwant %q", err, out, want)
	}

	e.DeleteVMI(t, ns, libvmi.TinyName, 2*time.Minute)
	e.ExpectNoLeaks(t, footprint)
}

// noStreams gives user everything on VMIs and read access to Pods in ns,
// but neither pods/exec nor pods/portforward.
func (e *env) noStreams(t *testing.T, ns, user string) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "no-streams", Namespace: ns}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"podvirt.io"}, Resources: []string{"virtualmachineinstances", "virtualmachines"}, Verbs: []string{"*"}},
		{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get", "list", "watch"}},
	}}
	if err := e.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "no-streams-" + user, Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: user, APIGroup: "rbac.authorization.k8s.io"}}}
	if err := e.Client.Create(ctx, rb); err != nil {
		t.Fatal(err)
	}
}

// consoleSession is a running `podvirtctl console`, its stdin a pipe (so
// without a TTY: plain streams).
type consoleSession struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan error
}

func (e *env) startConsole(t *testing.T, ctl, ns, user, vmi string) *consoleSession {
	t.Helper()
	s := &consoleSession{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(ctl, "console", vmi, "--kubeconfig", e.Kubeconfig, "--as", user, "-n", ns)
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
	})
	return s
}

// typeUntil types line into the guest's shell until its output holds
// want, retyping it every 10 s (the first may arrive before the session
// is connected).
func (s *consoleSession) typeUntil(t *testing.T, line, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := io.WriteString(s.stdin, line); err != nil {
			t.Fatalf("typing into the console: %v\nstdout:\n%s\nstderr:\n%s", err, s.stdout.String(), s.stderr.String())
		}
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			if strings.Contains(s.stdout.String(), want) {
				return
			}
			select {
			case err := <-s.done:
				t.Fatalf("the console ended (%v) before the guest printed %s\nstdout:\n%s\nstderr:\n%s", err, want, s.stdout.String(), s.stderr.String())
			default:
			}
		}
	}
	t.Fatalf("the guest did not print %s on the console in %s\nstdout:\n%s\nstderr:\n%s", want, timeout, s.stdout.String(), s.stderr.String())
}

// escape types ^] and expects the console to end cleanly.
func (s *consoleSession) escape(t *testing.T) {
	t.Helper()
	if _, err := s.stdin.Write([]byte{0x1d}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("the console ended with %v after ^]\nstderr:\n%s", err, s.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("^] did not end the console\nstderr:\n%s", s.stderr.String())
	}
}

// syncBuffer is a bytes.Buffer written by a command while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
