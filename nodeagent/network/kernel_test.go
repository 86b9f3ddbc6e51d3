package network

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// throwawayNetns locks the test's goroutine to its thread and moves the
// thread into a new network namespace standing for the host's, so the
// host's own links are never touched; it returns a second new namespace,
// standing for a launcher Pod's, by path. Both go when the test ends.
func throwawayNetns(t *testing.T) (podPath string, pod netns.NsHandle) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making network namespaces needs root")
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	restore := func() {
		// A thread that cannot go back stays locked: it ends with the
		// test's goroutine, never reused in a throwaway namespace.
		if err := netns.Set(orig); err != nil {
			t.Errorf("back to the test's own network namespace: %v", err)
			return
		}
		orig.Close()
		runtime.UnlockOSThread()
	}
	host, err := netns.New()
	if err != nil {
		restore()
		t.Fatalf("making the host's stand-in namespace: %v", err)
	}
	pod, err = netns.New()
	if err == nil {
		err = netns.Set(host)
	}
	if err != nil {
		restore()
		t.Fatalf("making the Pod's stand-in namespace: %v", err)
	}
	// The test writes sysctls: make sure they are the stand-in's.
	if cur, err := netns.Get(); err != nil || !cur.Equal(host) || cur.Equal(orig) {
		restore()
		t.Fatalf("the test's thread is not in the host's stand-in namespace (%v)", err)
	} else {
		cur.Close()
	}
	t.Cleanup(func() {
		restore()
		host.Close()
		pod.Close()
	})
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(pod)), pod
}

func readSysctl(t *testing.T, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc/sys", key))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// attachTap opens the tap name as libvirt does for QEMU (TUNSETIFF on
// /dev/net/tun, single queue, no packet info, virtio header), from the
// calling thread's namespace, and returns the file.
func attachTap(t *testing.T, name string) *os.File {
	t.Helper()
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no /dev/net/tun: %v", err)
	}
	req, err := unix.NewIfreq(name)
	if err != nil {
		t.Fatal(err)
	}
	req.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, req); err != nil {
		unix.Close(fd)
		t.Fatalf("attaching to tap %s as libvirt does: %v", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	t.Cleanup(func() { f.Close() })
	return f
}

// TestPlumbingInNetns plumbs a domain for real, with the kernel's
// netlink and nftables, between two throwaway namespaces standing for the
// host's and a Pod's: the tap made on the host, attached as libvirt
// attaches QEMU, moved into the Pod, still carries what QEMU writes;
// addresses, sysctls and rules are there; connecting again (as after a
// node agent restart) changes nothing; a link of another domain is
// refused; and nothing is left on the host.
func TestPlumbingInNetns(t *testing.T) {
	podPath, podNs := throwawayNetns(t)
	ctx := context.Background()
	const dom = "ns_plumbed"
	tap, owner := TapOf(dom), aliasPrefix+dom
	netnsOf := func(*corev1.Pod) (string, error) { return podPath, nil }
	podH, err := netlink.NewHandleAt(podNs, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer podH.Close()
	nft, err := nftables.New(nftables.WithNetNSFd(int(podNs)))
	if err != nil {
		t.Fatal(err)
	}

	n := &PodNetwork{Netns: netnsOf}
	if err := n.Prepare(ctx, &corev1.Pod{}, dom); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	l, err := netlink.LinkByName(tap)
	if err != nil {
		t.Fatalf("the tap is not on the host after Prepare: %v", err)
	}
	if l.Type() != "tuntap" || l.Attrs().Alias != owner || l.Attrs().RawFlags&unix.IFF_UP != 0 {
		t.Errorf("host tap %s: %s, alias %q, flags %v; want a tap of %s, down", tap, l.Type(), l.Attrs().Alias, l.Attrs().Flags, owner)
	}
	for key, want := range map[string]string{
		"net/ipv6/conf/" + tap + "/disable_ipv6": "1",
		"net/ipv4/conf/" + tap + "/rp_filter":    "1",
		"net/ipv4/conf/" + tap + "/forwarding":   "0",
		"net/ipv4/conf/" + tap + "/arp_ignore":   "8",
	} {
		if got := readSysctl(t, key); got != want {
			t.Errorf("host sysctl %s = %s, want %s", key, got, want)
		}
	}
	if err := n.Prepare(ctx, &corev1.Pod{}, dom); err != nil {
		t.Errorf("Prepare again (the agent restarted before the start): %v", err)
	}
	qemu := attachTap(t, tap) // libvirt, for QEMU

	check := func(when string) {
		t.Helper()
		if _, err := netlink.LinkByName(tap); err == nil {
			t.Errorf("%s: the tap is still on the host", when)
		}
		if links, _ := netlink.LinkList(); len(links) != 1 {
			t.Errorf("%s: the host has %d links, want only lo", when, len(links))
		}
		pt, err := podH.LinkByName(tap)
		if err != nil {
			t.Fatalf("%s: the tap in the Pod: %v", when, err)
		}
		if pt.Type() != "tuntap" || pt.Attrs().Alias != owner || pt.Attrs().RawFlags&unix.IFF_UP == 0 {
			t.Errorf("%s: %s in the Pod: %s, alias %q, flags %v", when, tap, pt.Type(), pt.Attrs().Alias, pt.Attrs().Flags)
		}
		addrs, err := podH.AddrList(pt, netlink.FAMILY_ALL)
		if err != nil {
			t.Fatal(err)
		}
		if len(addrs) != 1 || addrs[0].IPNet.String() != "10.0.2.1/24" {
			t.Errorf("%s: %s has addresses %v, want only 10.0.2.1/24 (no IPv6 link-local)", when, tap, addrs)
		}
		for key, want := range map[string]string{
			"net/ipv4/ip_forward":                      "1",
			"net/ipv6/conf/" + tap + "/disable_ipv6":   "1",
			"net/ipv4/conf/" + tap + "/route_localnet": "1",
		} {
			var got string
			if err := InNetns(podPath, func() error { got = readSysctl(t, key); return nil }); err != nil || got != want {
				t.Errorf("%s: the Pod's %s = %q (%v), want %s", when, key, got, err, want)
			}
		}

		tables, err := nft.ListTables()
		if err != nil {
			t.Fatal(err)
		}
		if len(tables) != 1 || tables[0].Name != podvirtTable.Name || tables[0].Family != podvirtTable.Family {
			t.Errorf("%s: nftables tables in the Pod: %+v, want only ip %s", when, tables, podvirtTable.Name)
		}
		chains, err := nft.ListChains()
		if err != nil {
			t.Fatal(err)
		}
		if len(chains) != len(guestChains) {
			t.Errorf("%s: %d chains in the Pod, want %d", when, len(chains), len(guestChains))
		}
		var got []*nftables.Rule
		for _, want := range guestChains {
			var c *nftables.Chain
			for _, ch := range chains {
				if ch.Name == want.Name {
					c = ch
				}
			}
			if c == nil {
				t.Errorf("%s: no chain %s in the Pod", when, want.Name)
				continue
			}
			if c.Type != want.Type || *c.Hooknum != *want.Hooknum || *c.Priority != *want.Priority {
				t.Errorf("%s: chain %s: type %s hook %d priority %d", when, c.Name, c.Type, *c.Hooknum, *c.Priority)
			}
			rules, err := nft.GetRules(podvirtTable, c)
			if err != nil {
				t.Fatalf("%s: rules of %s: %v", when, c.Name, err)
			}
			got = append(got, rules...)
		}
		want := guestRules(GuestAddress, podIface, tap)
		if len(got) != len(want) {
			t.Fatalf("%s: %d rules in the Pod, want %d", when, len(got), len(want))
		}
		for i := range want {
			if got[i].Chain.Name != want[i].Chain.Name || !reflect.DeepEqual(got[i].Exprs, want[i].Exprs) {
				t.Errorf("%s: rule %d in %s: %s, want %s", when, i, got[i].Chain.Name, exprs(got[i].Exprs), exprs(want[i].Exprs))
			}
		}
	}

	// A new namespace inherits the host's ip_forward: clear it, to see
	// that the Pod's is set, not the host's.
	if err := (kernel{}).sysctl("", "net/ipv4/ip_forward", "0"); err != nil {
		t.Fatal(err)
	}
	if err := n.Connect(ctx, &corev1.Pod{}, dom); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	check("after Connect")

	// What QEMU writes after the move arrives in the Pod: a broadcast
	// frame behind a zero virtio header, counted on the tap there.
	before := rxPackets(t, podH, tap)
	frame := make([]byte, 10+60) // virtio_net_hdr, then Ethernet
	copy(frame[10:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0, 0, 1, 0x88, 0xb5})
	for i := 0; i < 3; i++ {
		if _, err := qemu.Write(frame); err != nil {
			t.Fatalf("writing a frame through QEMU's file after the move: %v", err)
		}
	}
	if got := rxPackets(t, podH, tap) - before; got != 3 {
		t.Errorf("the tap in the Pod received %d of the 3 frames written through QEMU's file", got)
	}

	if err := n.Connect(ctx, &corev1.Pod{}, dom); err != nil {
		t.Fatalf("Connect again: %v", err)
	}
	check("after a second Connect")
	// A node agent restart: its DHCP servers are gone, a new one keeps
	// the domain.
	n.dhcp.stop(dom)
	n = &PodNetwork{Netns: netnsOf}
	if err := n.Keep(ctx, &corev1.Pod{}, dom); err != nil {
		t.Fatalf("Keep after a restart: %v", err)
	}
	check("after a restart")

	// A link of another domain's name, not that domain's, is refused
	// and left alone.
	otherTap := TapOf("ns_other")
	squatter := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: otherTap}}
	if err := netlink.LinkAdd(squatter); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetAlias(squatter, aliasPrefix+"someone-else"); err != nil {
		t.Fatal(err)
	}
	if err := n.Prepare(ctx, &corev1.Pod{}, "ns_other"); err == nil || !strings.Contains(err.Error(), "collide") {
		t.Errorf("Prepare over another domain's link = %v, want a collision", err)
	}
	if err := n.Disconnect(ctx, "ns_other"); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(otherTap); err != nil {
		t.Errorf("Disconnect removed another domain's link: %v", err)
	}
	_ = netlink.LinkDel(squatter)

	if err := n.Disconnect(ctx, dom); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	if err := n.Disconnect(ctx, dom); err != nil {
		t.Errorf("Disconnect again: %v", err)
	}
	// The tap and the table stay with the Pod's namespace until it goes
	// (here, at the test's end); QEMU's file closes first.
	qemu.Close()
	if _, err := podH.LinkByName(tap); err != nil {
		t.Errorf("the persistent tap left the Pod when QEMU closed it: %v", err)
	}
}

// A tap that never moved (the domain ended before Connect) is removed
// from the host by Disconnect.
func TestDisconnectRemovesAnUnmovedTap(t *testing.T) {
	podPath, _ := throwawayNetns(t)
	ctx := context.Background()
	n := &PodNetwork{Netns: func(*corev1.Pod) (string, error) { return podPath, nil }}
	if err := n.Prepare(ctx, &corev1.Pod{}, "ns_unmoved"); err != nil {
		t.Fatal(err)
	}
	if err := n.Disconnect(ctx, "ns_unmoved"); err != nil {
		t.Fatal(err)
	}
	if links, _ := netlink.LinkList(); len(links) != 1 {
		t.Errorf("the host has %d links after Disconnect, want only lo", len(links))
	}
}

func rxPackets(t *testing.T, h *netlink.Handle, name string) uint64 {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Statistics.RxPackets
}

// exprs shows the expressions of a rule.
func exprs(es []expr.Any) string {
	var s []string
	for _, e := range es {
		s = append(s, fmt.Sprintf("%T%+v", e, e))
	}
	return strings.Join(s, " ")
}
