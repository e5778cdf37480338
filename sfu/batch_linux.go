package sfu

import (
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On Linux a batch goes out with sendmmsg(2): one syscall for a whole
// fan-out instead of one per subscriber.

type sysConn struct {
	raw syscall.RawConn
}

type sockaddr struct {
	raw unix.RawSockaddrInet6 // large enough for either family
	len uint32
}

type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

type batchPlatform struct {
	msgs    [batchSize]mmsghdr
	iovs    [batchSize]unix.Iovec
	sent    int
	control func(fd uintptr) // b.writeMsgs, bound once: no closure per send
}

func newBatch() *batch {
	b := &batch{}
	b.plat.control = b.writeMsgs
	return b
}

func newSendSocket(c *net.UDPConn) (*sendSocket, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &sendSocket{conn: c, sys: sysConn{raw: raw}}, nil
}

func newDest(ap netip.AddrPort) *dest {
	d := &dest{addr: ap}
	if ap.Addr().Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&d.sa.raw))
		sa.Family = unix.AF_INET
		sa.Addr = ap.Addr().As4()
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = byte(ap.Port()>>8), byte(ap.Port())
		d.sa.len = unix.SizeofSockaddrInet4
		return d
	}
	sa := &d.sa.raw
	sa.Family = unix.AF_INET6
	sa.Addr = ap.Addr().As16()
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(ap.Port()>>8), byte(ap.Port())
	d.sa.len = unix.SizeofSockaddrInet6
	return d
}

// send writes the batch and returns how many packets the kernel took; the
// socket is non-blocking and a full send buffer drops the rest (counted)
// rather than stall the fan-out.
func (b *batch) send() int {
	for i := 0; i < b.n; i++ {
		s := &b.slots[i]
		iov := &b.plat.iovs[i]
		iov.Base = &s.buf[0]
		iov.SetLen(s.len)
		h := &b.plat.msgs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&s.to.sa.raw))
		h.Namelen = s.to.sa.len
		h.Iov = iov
		h.Iovlen = 1
		h.Control, h.Controllen, h.Flags = nil, 0, 0
	}
	b.plat.sent = 0
	// Control, not Write: Write holds the socket's write lock for the
	// whole syscall, which serialises the fan-out workers' batches on the
	// one media socket. The send never waits for the poller (MSG_DONTWAIT,
	// a full buffer drops), so the lock buys nothing, and the kernel takes
	// concurrent sendmmsg on a UDP socket.
	if err := b.sock.sys.raw.Control(b.plat.control); err != nil {
		for i := b.plat.sent; i < b.n; i++ {
			b.slots[i].failed = true
		}
	}
	sent := 0
	for i := 0; i < b.n; i++ {
		if !b.slots[i].failed {
			sent++
		}
	}
	return sent
}

func (b *batch) writeMsgs(fd uintptr) {
	for b.plat.sent < b.n {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.plat.msgs[b.plat.sent])), uintptr(b.n-b.plat.sent), unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			// EAGAIN (send buffer full) or an unreachable destination:
			// drop this packet and try the rest.
			b.slots[b.plat.sent].failed = true
			b.plat.sent++
			continue
		}
		b.plat.sent += int(n)
	}
}
