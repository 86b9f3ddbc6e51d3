package network

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
)

// DHCPServers answer the guests' DHCP requests, one server per domain on
// the Pod end of its network, inside the launcher Pod's namespace. The
// only lease is GuestAddress. The zero value is ready to use.
type DHCPServers struct {
	mu      sync.Mutex
	servers map[string]*server4.Server
}

// leaseTime is long: the servers live in the node agent, which may restart.
const leaseTime = 24 * time.Hour

// ensure starts the domain's server unless it runs.
func (d *DHCPServers) ensure(domName, netns, iface string, dns []net.IP) error {
	if d == nil {
		return fmt.Errorf("no DHCP servers configured")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.servers[domName]; ok {
		return nil
	}
	var srv *server4.Server
	err := InNetns(netns, func() error {
		var err error
		srv, err = server4.NewServer(iface, &net.UDPAddr{IP: net.IPv4zero, Port: dhcpv4.ServerPort}, leaseHandler(dns))
		return err
	})
	if err != nil {
		return fmt.Errorf("starting the DHCP server in %s: %w", netns, err)
	}
	if d.servers == nil {
		d.servers = map[string]*server4.Server{}
	}
	d.servers[domName] = srv
	go srv.Serve() //nolint:errcheck // ends with Close
	return nil
}

// stop stops the domain's server, if any.
func (d *DHCPServers) stop(domName string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if srv, ok := d.servers[domName]; ok {
		srv.Close()
		delete(d.servers, domName)
	}
}

// leaseHandler offers and acknowledges GuestAddress, with GatewayAddress
// as router and server, and the Pod's name servers.
func leaseHandler(dns []net.IP) server4.Handler {
	return func(conn net.PacketConn, peer net.Addr, req *dhcpv4.DHCPv4) {
		var typ dhcpv4.MessageType
		switch req.MessageType() {
		case dhcpv4.MessageTypeDiscover:
			typ = dhcpv4.MessageTypeOffer
		case dhcpv4.MessageTypeRequest:
			typ = dhcpv4.MessageTypeAck
		default:
			return
		}
		mods := []dhcpv4.Modifier{
			dhcpv4.WithMessageType(typ),
			dhcpv4.WithYourIP(GuestAddress),
			dhcpv4.WithServerIP(GatewayAddress),
			dhcpv4.WithNetmask(guestMask),
			dhcpv4.WithRouter(GatewayAddress),
			dhcpv4.WithLeaseTime(uint32(leaseTime.Seconds())),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(GatewayAddress)),
		}
		if len(dns) > 0 {
			mods = append(mods, dhcpv4.WithDNS(dns...))
		}
		resp, err := dhcpv4.NewReplyFromRequest(req, mods...)
		if err != nil {
			return
		}
		// The guest has no address yet: answer by broadcast.
		_, _ = conn.WriteTo(resp.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort})
		_ = peer
	}
}
