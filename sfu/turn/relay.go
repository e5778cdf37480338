package turn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/pion/transport/v2"

	"github.com/surgertc/surge/metrics"
)

var errNoTCPRelay = errors.New("TCP relay allocations (RFC 6062) are not supported")

// portTries is how many random ports of the range an allocation tries.
const portTries = 32

// relayGen is pion's RelayAddressGenerator: it binds each allocation's
// relay socket on the relay IP (in the port range) and wraps it.
type relayGen struct {
	srv          *Server
	net          transport.Net
	bind, public netip.Addr
	min, max     int
}

func (g *relayGen) Validate() error { return nil }

func (g *relayGen) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	var conn net.PacketConn
	var err error
	switch {
	case requestedPort != 0 || g.min == 0:
		conn, err = g.net.ListenPacket(network, net.JoinHostPort(g.bind.String(), strconv.Itoa(requestedPort)))
	default:
		for i := 0; i < portTries; i++ {
			port := g.min + rand.IntN(g.max-g.min+1)
			if conn, err = g.net.ListenPacket(network, net.JoinHostPort(g.bind.String(), strconv.Itoa(port))); err == nil {
				break
			}
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("bind a relay port on %s: %w", g.bind, err)
	}
	ua, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("relay socket has address %T", conn.LocalAddr())
	}
	port := uint16(ua.Port)
	g.srv.ledger.opened(port)
	rc := &relayConn{PacketConn: conn, srv: g.srv, port: port}
	return rc, &net.UDPAddr{IP: g.public.AsSlice(), Port: ua.Port}, nil
}

func (g *relayGen) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, errNoTCPRelay
}

// relayConn is one allocation's relay socket. Every packet passes the peer
// filter by ip and port (permissions are per IP only) and is counted.
type relayConn struct {
	net.PacketConn
	srv  *Server
	port uint16
	once sync.Once
}

// WriteTo sends client data to a peer. A denied peer's packet is dropped
// and reported as sent, so pion does not log an error per packet.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !c.permit(addr) {
		return len(p), nil
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	if err == nil {
		c.srv.m.Relayed(metrics.RelayToPeer, n)
	}
	return n, err
}

// ReadFrom returns the next packet from a permitted peer.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || c.permit(addr) {
			return n, addr, err
		}
	}
}

func (c *relayConn) permit(addr net.Addr) bool {
	if ua, ok := addr.(*net.UDPAddr); ok && c.srv.filter.Permit(ua.AddrPort()) {
		return true
	}
	c.srv.m.Denied(metrics.TURNDeniedPacket).Inc()
	return false
}

func (c *relayConn) Close() error {
	c.once.Do(func() { c.srv.ledger.closed(c.port) })
	return c.PacketConn.Close()
}
