//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// TestPortForwardToGuest forwards a local port, as a namespace editor
// (impersonated), through pods/portforward on the launcher Pod to the
// tiny guest's HTTP server on port 80. It passes once the node agent
// relays the launcher Pod's port to the guest (its network code's half). A
// user without pods/portforward is refused, told which permission.
func TestPortForwardToGuest(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	e.editor(t, ns, "alice")
	e.noStreams(t, ns, "bob")
	ctl := e.podvirtctl(t)

	footprint := e.Track(t, ns, "web")
	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName("web"), libvmi.WithAutoattachPodInterface(true)), "--as", "alice")
	console := e.GuestConsole(t, domainspec.Name(ns, "web"))
	if !strings.Contains(console, "PODVIRT-NET 10.0.2.2") {
		t.Fatalf("the guest has no address, so no HTTP server:\n%s", console)
	}

	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	pf := exec.Command(ctl, "port-forward", "web", ":80", "--kubeconfig", e.Kubeconfig, "--as", "alice", "-n", ns)
	pf.Stdout, pf.Stderr = stdout, stderr
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pf.Process.Kill(); _ = pf.Wait() })

	forwarding := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 80`)
	var port string
	framework.Eventually(t, "port-forward to listen", 30*time.Second, func() (bool, error) {
		if m := forwarding.FindStringSubmatch(stdout.String()); m != nil {
			port = m[1]
			return true, nil
		}
		return false, nil
	})
	var body string
	framework.Eventually(t, "the guest's HTTP server through the port forward", 60*time.Second, func() (bool, error) {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://127.0.0.1:" + port + "/")
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err == nil && strings.Contains(body, "PODVIRT-GUEST-HTTP"), nil
	})
	_ = pf.Process.Kill()

	out, err := exec.Command(ctl, "port-forward", "web", ":80", "--kubeconfig", e.Kubeconfig, "--as", "bob", "-n", ns).CombinedOutput()
	want := fmt.Sprintf("Forbidden: you need create on pods/portforward for pod %s in namespace %s", domainspec.PodName("web"), ns)
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("port-forward as a user without pods/portforward: %v\n%s\nwant %q", err, out, want)
	}
	if t.Failed() {
		t.Logf("port-forward stderr:\n%s", stderr.String())
	}

	e.DeleteVMI(t, ns, "web", 2*time.Minute)
	e.ExpectNoLeaks(t, footprint)
}
