//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// answering is a TCP listener on the host that answers every connection
// with a line and records where each came from.
type answering struct {
	ln    net.Listener
	mu    sync.Mutex
	peers []string
}

func listenAnswering(t *testing.T, addr string) *answering {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	a := &answering{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.mu.Lock()
			a.peers = append(a.peers, c.RemoteAddr().String())
			a.mu.Unlock()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = bufio.NewReader(c).ReadString('\n')
			_, _ = io.WriteString(c, "PODVIRT-ANSWER\n")
			c.Close()
		}
	}()
	return a
}

func (a *answering) port() int { return a.ln.Addr().(*net.TCPAddr).Port }

func (a *answering) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.peers...)
}

// TestAttackGuestNetworkEscape is root inside a guest (issue #10, item 3)
// trying to leave its launcher Pod's network: the guest's tap lives in the
// Pod's network namespace, so its only way out is the Pod's interface,
// as the Pod's IP. From inside the guest (the tiny guest's probes, run at
// boot) it tries the node as the Pod may (answered: the positive control,
// seen from the Pod's IP), another VMI through its Pod IP (answered), and
// then what a Pod cannot reach or must not send: spoofed source addresses,
// a link-local address of the host, libvirt's and the node agent's ports,
// and IPv6 neighbours on its link. Meanwhile nothing of the guest's is in
// the host's network namespace, and kubectl port-forward, as a namespace
// editor, reaches the guest's HTTP server through the Pod.
func TestAttackGuestNetworkEscape(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)
	e.editor(t, ns, "mallory")

	node := &corev1.Node{}
	if err := e.Client.Get(ctx, types.NamespacedName{Name: e.Node}, node); err != nil {
		t.Fatal(err)
	}
	var nodeIP string
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			nodeIP = a.Address
		}
	}
	if nodeIP == "" {
		t.Fatalf("node %s has no InternalIP", e.Node)
	}
	host := listenAnswering(t, "0.0.0.0:0")

	// A link-local address on the host, answering (a cloud's metadata
	// server lives at one).
	const llAddr, dummy = "169.254.77.1", "pve2e0"
	// A veth pair (this kernel has no dummy links), the address on one end.
	framework.Run(t, "ip", "link", "add", dummy, "type", "veth", "peer", "name", dummy+"p")
	t.Cleanup(func() { _ = runQuiet("ip", "link", "del", dummy) })
	framework.Run(t, "ip", "addr", "add", llAddr+"/32", "dev", dummy)
	framework.Run(t, "ip", "link", "set", dummy, "up")
	framework.Run(t, "ip", "link", "set", dummy+"p", "up")
	linkLocal := listenAnswering(t, llAddr+":0")

	// The neighbour: another VMI on the node, serving HTTP at its Pod IP.
	neighbourFP := e.Track(t, ns, "neighbour")
	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName("neighbour"), libvmi.WithAutoattachPodInterface(true)))
	e.GuestConsole(t, domainspec.Name(ns, "neighbour"))
	neighbour := &corev1.Pod{}
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: domainspec.PodName("neighbour")}, neighbour); err != nil {
		t.Fatal(err)
	}

	hostPort := fmt.Sprintf("%s:%d", nodeIP, host.port())
	probes := []struct{ target, want, what string }{
		{hostPort, "open", "the node's address, as any Pod may"},
		{neighbour.Status.PodIP + ":80", "open", "another VMI through its Pod IP"},
		{hostPort + "@192.0.2.77", "closed", "the node from a spoofed source address"},
		{hostPort + "@10.0.2.77", "closed", "the node from a spoofed address in the guest's own subnet"},
		{fmt.Sprintf("%s:%d", llAddr, linkLocal.port()), "closed", "a link-local address of the host"},
		{nodeIP + ":16509", "closed", "libvirt's TCP port on the node"},
		{nodeIP + ":18082", "closed", "the node agent's metrics port"},
	}
	args := libvmi.TinyKernelArgs + " podvirt.ping6"
	for _, p := range probes {
		args += " podvirt.probe=" + p.target
	}
	attackerFP := e.Track(t, ns, "attacker")
	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName("attacker"), libvmi.WithAutoattachPodInterface(true), libvmi.WithKernelArgs(args)))
	dom := domainspec.Name(ns, "attacker")
	console := e.GuestConsole(t, dom)
	if !strings.Contains(console, "PODVIRT-NET 10.0.2.2") {
		t.Fatalf("the guest did not get 10.0.2.2 by DHCP:\n%s", console)
	}
	attacker := &corev1.Pod{}
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: domainspec.PodName("attacker")}, attacker); err != nil {
		t.Fatal(err)
	}

	for _, p := range probes {
		line := "PODVIRT-PROBE " + p.target + " "
		i := strings.Index(console, line)
		if i < 0 {
			t.Errorf("the guest did not report probing %s (%s):\n%s", p.target, p.what, console)
			continue
		}
		got := strings.Fields(console[i+len(line):])[0]
		switch {
		case got != p.want && p.want == "open":
			t.Errorf("the guest could not reach %s (%s): the probe itself is broken, or the guest is off the network", p.target, p.what)
		case got != p.want:
			t.Errorf("ATTACK GOT THROUGH: the guest reached %s (%s)", p.target, p.what)
		case p.want == "closed":
			t.Logf("tried %s (%s) from inside the guest -> stopped: no answer", p.target, p.what)
		default:
			t.Logf("control: the guest reached %s (%s)", p.target, p.what)
		}
	}
	// The node saw the guest only as its Pod.
	for _, peer := range host.seen() {
		if ip, _, _ := net.SplitHostPort(peer); ip != attacker.Status.PodIP {
			t.Errorf("ATTACK GOT THROUGH: the node's listener saw a connection from %s, not the Pod's IP %s", peer, attacker.Status.PodIP)
		}
	}
	if len(host.seen()) == 0 {
		t.Errorf("the node's listener saw no connection from the guest, though the guest says it was answered")
	}
	if seen := linkLocal.seen(); len(seen) > 0 {
		t.Errorf("ATTACK GOT THROUGH: the host's link-local listener saw %v", seen)
	}

	// IPv6: nothing but the guest itself answers on its link.
	own := map[string]bool{}
	for _, m := range regexp.MustCompile(`PODVIRT-LL6 (\S+)`).FindAllStringSubmatch(console, -1) {
		own[m[1]] = true
	}
	if len(own) == 0 || !strings.Contains(console, "PODVIRT-PING6-DONE") {
		t.Errorf("the guest did not report its IPv6 link-local address and its ping of ff02::1:\n%s", console)
	}
	for _, m := range regexp.MustCompile(`PODVIRT-PING6 (\S+)`).FindAllStringSubmatch(console, -1) {
		if !own[m[1]] {
			t.Errorf("ATTACK GOT THROUGH: %s answered the guest's IPv6 ping of all nodes on its link", m[1])
		}
	}
	if len(own) > 0 {
		t.Logf("tried IPv6 to every node on the guest's link (ff02::1) -> stopped: only the guest itself answered")
	}

	// Nothing of the guest's is on the host; its tap is in the Pod.
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifaces {
		for _, l := range framework.PodNetworkLinks(dom) {
			if ifc.Name == l {
				t.Errorf("the guest's link %s is in the host's network namespace", l)
			}
		}
	}
	podLinks, err := framework.PodLinks(attacker.UID)
	if err != nil {
		t.Fatal(err)
	}
	tap := framework.PodNetworkLinks(dom)[0]
	if alias, ok := podLinks[tap]; !ok || alias != "podvirt:"+dom {
		t.Errorf("the guest's tap %s is not in its launcher Pod's namespace (links there: %v)", tap, podLinks)
	}

	// kubectl port-forward, as the namespace editor, reaches the guest.
	body := portForwardGet(t, e, ns, attacker.Name, "mallory", 80)
	if !strings.Contains(body, "PODVIRT-GUEST-HTTP") {
		t.Errorf("port-forward to the launcher Pod's port 80 answered %q, want the guest's page", body)
	}

	e.DeleteVMI(t, ns, "attacker", 120*time.Second)
	e.DeleteVMI(t, ns, "neighbour", 120*time.Second)
	e.ExpectNoLeaks(t, attackerFP)
	e.ExpectNoLeaks(t, neighbourFP)
}

// portForwardGet runs kubectl port-forward to the Pod's port as user and
// GETs / through it.
func portForwardGet(t *testing.T, e *env, ns, pod, user string, port int) string {
	t.Helper()
	cmd := exec.Command(e.KubectlBin, "--kubeconfig", e.Kubeconfig, "--as", user, "-n", ns,
		"port-forward", "--address", "127.0.0.1", "pod/"+pod, fmt.Sprintf(":%d", port))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// "Forwarding from 127.0.0.1:PORT -> 80"
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if strings.HasPrefix(line, "Forwarding from ") {
				lines <- line
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	var local string
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("kubectl port-forward ended: %s", stderr.String())
		}
		local = strings.Fields(line)[2]
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl port-forward did not start: %s", stderr.String())
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + local + "/")
	if err != nil {
		t.Fatalf("GET through port-forward: %v (kubectl: %s)", err, stderr.String())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
