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

// TestPlumbingInNetns plumbs a domain for real, with the kernel's
// netlink and nftables, between two throwaway namespaces standing for the
// host's and a Pod's: links, addresses, sysctls and NAT rules are there,
// connecting again (as after a node agent restart) changes nothing, a
// link of another domain is refused, and Disconnect leaves nothing on the
// host.
func TestPlumbingInNetns(t *testing.T) {
	podPath, podNs := throwawayNetns(t)
	ctx := context.Background()
	const dom = "ns_plumbed"
	l, owner := LinksOf(dom), aliasPrefix+dom
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

	check := func(when string) {
		t.Helper()
		br, err := netlink.LinkByName(l.Bridge)
		if err != nil {
			t.Fatalf("%s: bridge: %v", when, err)
		}
		if br.Type() != "bridge" || br.Attrs().Alias != owner || br.Attrs().RawFlags&unix.IFF_UP == 0 {
			t.Errorf("%s: bridge %s is a %s with alias %q, flags %v", when, l.Bridge, br.Type(), br.Attrs().Alias, br.Attrs().Flags)
		}
		hv, err := netlink.LinkByName(l.HostVeth)
		if err != nil {
			t.Fatalf("%s: host veth: %v", when, err)
		}
		if hv.Type() != "veth" || hv.Attrs().Alias != owner || hv.Attrs().MasterIndex != br.Attrs().Index || hv.Attrs().RawFlags&unix.IFF_UP == 0 {
			t.Errorf("%s: host veth %s: %s, alias %q, master %d (bridge %d), flags %v", when, l.HostVeth, hv.Type(), hv.Attrs().Alias, hv.Attrs().MasterIndex, br.Attrs().Index, hv.Attrs().Flags)
		}
		for key, want := range map[string]string{
			"net/ipv6/conf/" + l.Bridge + "/disable_ipv6":   "1",
			"net/ipv4/conf/" + l.Bridge + "/rp_filter":      "1",
			"net/ipv4/conf/" + l.Bridge + "/forwarding":     "0",
			"net/ipv4/conf/" + l.Bridge + "/arp_ignore":     "8",
			"net/ipv6/conf/" + l.HostVeth + "/disable_ipv6": "1",
			// The Pod's ip_forward is the Pod's, not the host's.
			"net/ipv4/ip_forward": "0",
		} {
			if got := readSysctl(t, key); got != want {
				t.Errorf("%s: host sysctl %s = %s, want %s", when, key, got, want)
			}
		}
		if links, _ := netlink.LinkList(); len(links) != 3 { // lo, bridge, veth
			t.Errorf("%s: the host has %d links, want lo, %s and %s", when, len(links), l.Bridge, l.HostVeth)
		}

		pv, err := podH.LinkByName(PodVeth)
		if err != nil {
			t.Fatalf("%s: the veth's Pod end: %v", when, err)
		}
		if pv.Type() != "veth" || pv.Attrs().RawFlags&unix.IFF_UP == 0 {
			t.Errorf("%s: %s in the Pod: %s, flags %v", when, PodVeth, pv.Type(), pv.Attrs().Flags)
		}
		addrs, err := podH.AddrList(pv, unix.AF_INET)
		if err != nil {
			t.Fatal(err)
		}
		if len(addrs) != 1 || addrs[0].IPNet.String() != "10.0.2.1/24" {
			t.Errorf("%s: %s has addresses %v, want only 10.0.2.1/24", when, PodVeth, addrs)
		}
		var forward string
		if err := InNetns(podPath, func() error { forward = readSysctl(t, "net/ipv4/ip_forward"); return nil }); err != nil || forward != "1" {
			t.Errorf("%s: the Pod's ip_forward = %q (%v), want 1", when, forward, err)
		}

		tables, err := nft.ListTables()
		if err != nil {
			t.Fatal(err)
		}
		if len(tables) != 1 || tables[0].Name != natTable.Name || tables[0].Family != natTable.Family {
			t.Errorf("%s: nftables tables in the Pod: %+v, want only ip %s", when, tables, natTable.Name)
		}
		chains, err := nft.ListChains()
		if err != nil {
			t.Fatal(err)
		}
		if len(chains) != 2 {
			t.Errorf("%s: %d chains in the Pod, want 2", when, len(chains))
		}
		for _, c := range chains {
			want := natPrerouting
			if c.Name == natPostrouting.Name {
				want = natPostrouting
			}
			if c.Name != want.Name || c.Type != want.Type || *c.Hooknum != *want.Hooknum || *c.Priority != *want.Priority {
				t.Errorf("%s: chain %s: type %s hook %d priority %d", when, c.Name, c.Type, *c.Hooknum, *c.Priority)
			}
		}
		var got []*nftables.Rule
		for _, c := range []*nftables.Chain{natPostrouting, natPrerouting} {
			rules, err := nft.GetRules(natTable, c)
			if err != nil {
				t.Fatalf("%s: rules of %s: %v", when, c.Name, err)
			}
			got = append(got, rules...)
		}
		want := natRules(GuestAddress, podIface)
		if len(got) != len(want) {
			t.Fatalf("%s: %d NAT rules in the Pod, want %d", when, len(got), len(want))
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
	n := &PodNetwork{Netns: netnsOf}
	if err := n.Connect(ctx, &corev1.Pod{}, dom); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	check("after Connect")
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
	other := LinksOf("ns_other")
	squatter := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: other.Bridge}}
	if err := netlink.LinkAdd(squatter); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetAlias(squatter, aliasPrefix+"someone-else"); err != nil {
		t.Fatal(err)
	}
	if err := n.Connect(ctx, &corev1.Pod{}, "ns_other"); err == nil || !strings.Contains(err.Error(), "collide") {
		t.Errorf("Connect onto another domain's bridge = %v, want a collision", err)
	}
	if err := n.Disconnect(ctx, "ns_other"); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(other.Bridge); err != nil {
		t.Errorf("Disconnect removed another domain's bridge: %v", err)
	}
	_ = netlink.LinkDel(squatter)

	if err := n.Disconnect(ctx, dom); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	if links, _ := netlink.LinkList(); len(links) != 1 {
		t.Errorf("the host has %d links after Disconnect, want only lo", len(links))
	}
	if _, err := podH.LinkByName(PodVeth); err == nil {
		t.Errorf("%s is left in the Pod after Disconnect", PodVeth)
	}
	if err := n.Disconnect(ctx, dom); err != nil {
		t.Errorf("Disconnect again: %v", err)
	}
	// The NAT table stays with the Pod's namespace, harmless without
	// the veth, until the namespace goes (here, at the test's end).
}

// exprs shows the expressions of a rule.
func exprs(es []expr.Any) string {
	var s []string
	for _, e := range es {
		s = append(s, fmt.Sprintf("%T%+v", e, e))
	}
	return strings.Join(s, " ")
}
