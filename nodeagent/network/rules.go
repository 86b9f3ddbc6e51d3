package network

import (
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// podvirtTable is podvirt's own nftables table in a launcher Pod's network
// namespace: whatever else filters there (the CNI's, a sidecar's) is left
// alone, and podvirt's rules can be replaced as a whole.
var podvirtTable = &nftables.Table{Family: nftables.TableFamilyIPv4, Name: "podvirt"}

// The chains of podvirtTable, hooked where iptables' nat and filter tables
// hook.
var (
	natPrerouting = &nftables.Chain{
		Name: "prerouting", Table: podvirtTable, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest,
	}
	natOutput = &nftables.Chain{
		Name: "output", Table: podvirtTable, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest,
	}
	natPostrouting = &nftables.Chain{
		Name: "postrouting", Table: podvirtTable, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	}
	filterForward = &nftables.Chain{
		Name: "forward", Table: podvirtTable, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter,
	}
	filterInput = &nftables.Chain{
		Name: "input", Table: podvirtTable, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter,
	}
)

// guestChains are the chains setRules makes, in order.
var guestChains = []*nftables.Chain{natPrerouting, natOutput, natPostrouting, filterForward, filterInput}

// guestRules are the guest's rules in the Pod's namespace. The guest is
// the Pod on the network: what it sends with its own address leaves
// masqueraded as the Pod's, TCP and UDP to the Pod go to it, and so does
// TCP to 127.0.0.1 in the Pod (kubectl port-forward dials there). It
// reaches nothing else: no other source address leaves, nothing
// link-local is forwarded, and of the Pod's own sockets it reaches only
// the DHCP server and replies. In nft(8) terms:
//
//	prerouting:  iifname IFACE meta l4proto tcp dnat to GUEST
//	prerouting:  iifname IFACE meta l4proto udp dnat to GUEST
//	output:      ip daddr 127.0.0.1 meta l4proto tcp dnat to GUEST
//	postrouting: ip saddr GUEST oifname IFACE masquerade
//	postrouting: ip saddr 127.0.0.0/8 oifname TAP masquerade
//	forward:     iifname TAP ip saddr != GUEST drop
//	forward:     iifname TAP ip daddr 169.254.0.0/16 drop
//	input:       iifname TAP ct state established,related accept
//	input:       iifname TAP udp dport 67 accept
//	input:       iifname TAP drop
func guestRules(guest net.IP, podIface, tap string) []*nftables.Rule {
	ip := guest.To4()
	rule := func(c *nftables.Chain, exprs ...[]expr.Any) *nftables.Rule {
		var all []expr.Any
		for _, e := range exprs {
			all = append(all, e...)
		}
		return &nftables.Rule{Table: podvirtTable, Chain: c, Exprs: all}
	}
	dnat := []expr.Any{
		&expr.Immediate{Register: 1, Data: ip},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1},
	}
	drop := []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
	accept := []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
	return []*nftables.Rule{
		rule(natPrerouting, iif(podIface), l4proto(unix.IPPROTO_TCP), dnat),
		rule(natPrerouting, iif(podIface), l4proto(unix.IPPROTO_UDP), dnat),
		rule(natOutput, ipField(16, expr.CmpOpEq, net.IPv4(127, 0, 0, 1).To4()), l4proto(unix.IPPROTO_TCP), dnat),
		rule(natPostrouting, ipField(12, expr.CmpOpEq, ip), oif(podIface), []expr.Any{&expr.Masq{}}),
		rule(natPostrouting, ipField(12, expr.CmpOpEq, []byte{127}), oif(tap), []expr.Any{&expr.Masq{}}),
		rule(filterForward, iif(tap), ipField(12, expr.CmpOpNeq, ip), drop),
		rule(filterForward, iif(tap), ipField(16, expr.CmpOpEq, []byte{169, 254}), drop),
		rule(filterInput, iif(tap), ctEstablishedOrRelated(), accept),
		rule(filterInput, iif(tap), l4proto(unix.IPPROTO_UDP), []expr.Any{
			// udp dport: 2 bytes at offset 2 of the transport header.
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(67)},
		}, accept),
		rule(filterInput, iif(tap), drop),
	}
}

// ipField compares the first len(value) bytes of the IPv4 header field at
// offset (12: saddr, 16: daddr) with value: a prefix of 8, 16 or 24 bits
// is the first 1, 2 or 3 bytes.
func ipField(offset uint32, op expr.CmpOp, value []byte) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: uint32(len(value))},
		&expr.Cmp{Op: op, Register: 1, Data: value},
	}
}

func iif(name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)},
	}
}

func oif(name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)},
	}
}

func l4proto(proto byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

func ctEstablishedOrRelated() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

// ifname is an interface name as the kernel compares it (IFNAMSIZ
// bytes, NUL-padded), as nft(8) sends it.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// setRules replaces podvirtTable in the namespace at path by one holding
// only guestRules, in one nftables transaction: a node agent that
// restarts and connects again neither duplicates the rules nor leaves a
// moment without them. Adding the table before deleting it makes the
// delete succeed when there is none yet.
func (kernel) setRules(path string, guest net.IP, podIface, tap string) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("opening nftables in %s: %w", path, err)
	}
	c.AddTable(podvirtTable)
	c.DelTable(podvirtTable)
	c.AddTable(podvirtTable)
	for _, ch := range guestChains {
		c.AddChain(ch)
	}
	for _, r := range guestRules(guest, podIface, tap) {
		c.AddRule(r)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("writing nftables table ip %s in %s: %w", podvirtTable.Name, path, err)
	}
	return nil
}
