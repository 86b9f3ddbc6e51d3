//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// TestGuestOnPodNetwork puts a guest on the Pod network (KubeVirt's
// default interface, masquerade): it gets its address by DHCP, is reached
// at the Pod's IP, and reaches the network as the Pod's IP.
func TestGuestOnPodNetwork(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)

	// A server on the node's side of the Pod network for the guest to fetch:
	// the CNI bridge's address, the first of test/local's Pod CIDR.
	cidr := os.Getenv("PODVIRT_POD_CIDR")
	if cidr == "" {
		cidr = "10.244.0.0/24"
	}
	_, podCIDR, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatalf("Pod CIDR %q: %v", cidr, err)
	}
	gateway := podCIDR.IP.To4()
	gateway[3]++
	body := fmt.Sprintf("podvirt egress %d\n", time.Now().UnixNano())
	var mu sync.Mutex
	var seen []string
	ln, err := net.Listen("tcp", net.JoinHostPort(gateway.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.RemoteAddr)
		mu.Unlock()
		io.WriteString(w, body)
	})}
	go srv.Serve(ln) //nolint:errcheck // closed below
	t.Cleanup(func() { srv.Close() })

	footprint := e.Track(t, ns, "web")
	// KubeVirt's default interface, left to the defaulting webhook.
	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName("web"), libvmi.WithAutoattachPodInterface(true),
		libvmi.WithKernelArgs(libvmi.TinyKernelArgs+" podvirt.fetch="+ln.Addr().String())))
	console := e.GuestConsole(t, domainspec.Name(ns, "web"))
	if !strings.Contains(console, "PODVIRT-NET 10.0.2.2") {
		t.Errorf("the guest did not get 10.0.2.2 by DHCP:\n%s", console)
	}
	sum := sha256.Sum256([]byte(body))
	if want := "PODVIRT-FETCH " + hex.EncodeToString(sum[:]); !strings.Contains(console, want) {
		t.Errorf("the guest did not fetch from the node (want %q):\n%s", want, console)
	}

	launcher := &corev1.Pod{}
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: domainspec.PodName("web")}, launcher); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(seen) == 0 || !strings.HasPrefix(seen[0], launcher.Status.PodIP+":") {
		t.Errorf("the node's server saw %v, want the Pod's IP %s", seen, launcher.Status.PodIP)
	}
	mu.Unlock()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + launcher.Status.PodIP + "/")
	if err != nil {
		t.Fatalf("the guest is not reached at the Pod's IP: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(got), "PODVIRT-GUEST-HTTP") {
		t.Errorf("the Pod's IP answered %q, want the guest's page", got)
	}

	// The tap (in the Pod), the DHCP server and the Pod's namespace with
	// its nftables rules go with the VMI.
	e.DeleteVMI(t, ns, "web", 120*time.Second)
	e.ExpectNoLeaks(t, footprint)
}
