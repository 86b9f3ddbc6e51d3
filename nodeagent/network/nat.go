package network

import (
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// natTable is podvirt's own nftables table in a launcher Pod's network
// namespace: whatever else filters there (the CNI's, a sidecar's) is left
// alone, and podvirt's rules can be replaced as a whole.
var natTable = &nftables.Table{Family: nftables.TableFamilyIPv4, Name: "podvirt"}

// The chains of natTable, hooked where iptables' nat table hooks.
var (
	natPostrouting = &nftables.Chain{
		Name: "postrouting", Table: natTable, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	}
	natPrerouting = &nftables.Chain{
		Name: "prerouting", Table: natTable, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest,
	}
)

// natRules are the guest's rules: what the guest sends out of podIface
// is masqueraded as the Pod's address; TCP and UDP arriving on podIface
// go to the guest. In nft(8) terms:
//
//	postrouting: ip saddr GUEST oifname IFACE masquerade
//	prerouting:  iifname IFACE meta l4proto tcp dnat to GUEST
//	prerouting:  iifname IFACE meta l4proto udp dnat to GUEST
func natRules(guest net.IP, podIface string) []*nftables.Rule {
	ip := guest.To4()
	dnat := func(proto byte) *nftables.Rule {
		return &nftables.Rule{Table: natTable, Chain: natPrerouting, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(podIface)},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Immediate{Register: 1, Data: ip},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1},
		}}
	}
	return []*nftables.Rule{
		{Table: natTable, Chain: natPostrouting, Exprs: []expr.Any{
			// ip saddr: 4 bytes at offset 12 of the IPv4 header.
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip},
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(podIface)},
			&expr.Masq{},
		}},
		dnat(unix.IPPROTO_TCP),
		dnat(unix.IPPROTO_UDP),
	}
}

// ifname is an interface name as the kernel compares it (IFNAMSIZ
// bytes, NUL-padded), as nft(8) sends it.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// setNAT replaces natTable in the namespace at path by one holding only
// natRules, in one nftables transaction: a node agent that restarts and
// connects again neither duplicates the rules nor leaves a moment
// without them. Adding the table before deleting it makes the delete
// succeed when there is none yet.
func (kernel) setNAT(path string, guest net.IP, podIface string) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("opening nftables in %s: %w", path, err)
	}
	c.AddTable(natTable)
	c.DelTable(natTable)
	c.AddTable(natTable)
	c.AddChain(natPostrouting)
	c.AddChain(natPrerouting)
	for _, r := range natRules(guest, podIface) {
		c.AddRule(r)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("writing nftables table ip %s in %s: %w", natTable.Name, path, err)
	}
	return nil
}
