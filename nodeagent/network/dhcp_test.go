package network

import (
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// capture is a net.PacketConn that keeps what is written to it.
type capture struct {
	net.PacketConn
	sent []byte
	to   net.Addr
}

func (c *capture) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.sent, c.to = append([]byte(nil), b...), addr
	return len(b), nil
}

func TestLeaseHandler(t *testing.T) {
	dns := []net.IP{net.IPv4(10, 96, 0, 10)}
	handle := leaseHandler(dns)
	mac := net.HardwareAddr{0x52, 0x54, 0, 1, 2, 3}
	for _, c := range []struct {
		req  dhcpv4.MessageType
		want dhcpv4.MessageType
	}{
		{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeOffer},
		{dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeAck},
	} {
		req, err := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(c.req))
		if err != nil {
			t.Fatal(err)
		}
		conn := &capture{}
		handle(conn, &net.UDPAddr{}, req)
		resp, err := dhcpv4.FromBytes(conn.sent)
		if err != nil {
			t.Fatalf("%s: no reply: %v", c.req, err)
		}
		if resp.MessageType() != c.want || !resp.YourIPAddr.Equal(GuestAddress) || resp.TransactionID != req.TransactionID {
			t.Errorf("%s: reply %s for %s (xid %v), want %s for %s", c.req, resp.MessageType(), resp.YourIPAddr, resp.TransactionID, c.want, GuestAddress)
		}
		if r := resp.Router(); len(r) != 1 || !r[0].Equal(GatewayAddress) {
			t.Errorf("router %v, want %s", r, GatewayAddress)
		}
		if m := resp.SubnetMask(); m.String() != guestMask.String() {
			t.Errorf("mask %v", m)
		}
		if d := resp.DNS(); len(d) != 1 || !d[0].Equal(dns[0]) {
			t.Errorf("dns %v", d)
		}
		if resp.IPAddressLeaseTime(0) != 24*time.Hour {
			t.Errorf("lease %v", resp.IPAddressLeaseTime(0))
		}
	}
	// Anything else gets no answer.
	release, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease))
	conn := &capture{}
	handle(conn, &net.UDPAddr{}, release)
	if conn.sent != nil {
		t.Error("answered a RELEASE")
	}
}
