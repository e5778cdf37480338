//go:build !linux

package sfu

import (
	"errors"
	"net"
	"net/netip"
)

// Elsewhere a batch is sent one packet at a time.

type sysConn struct{}

type sockaddr struct{}

type batchPlatform struct{}

func newBatch() *batch { return &batch{} }

func newSendSocket(c *net.UDPConn, _ bool) (*sendSocket, error) {
	return &sendSocket{conn: c, noGSO: errors.New("UDP GSO is Linux only")}, nil
}

func listenMedia(addr string) (net.PacketConn, error) { return net.ListenPacket("udp", addr) }

func newDest(ap netip.AddrPort) *dest { return &dest{addr: ap} }

func (b *batch) send() (sent, msgs int) {
	for i := 0; i < b.n; i++ {
		s := &b.slots[i]
		if _, err := b.sock.conn.WriteToUDPAddrPort(s.buf[:s.len], s.to.addr); err != nil {
			s.failed = true
			continue
		}
		sent++
	}
	return sent, b.n
}
