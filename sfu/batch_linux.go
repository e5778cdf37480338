package sfu

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
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

// newSendSocket prepares the fast path's sends on c. It prefers a second
// socket bound to c's address in c's SO_REUSEPORT group, with the group's
// program steering every received datagram to c, and never registered with
// Go's poller. The kernel wakes whoever polls a UDP socket each time one of
// its datagrams leaves the send buffer (sock_wfree → sk_write_space), so
// sending a fan-out on the polled media socket woke the runtime's netpoller
// once per packet for an EPOLLOUT nobody waits on: 8 000 context switches a
// second at 250 subscribers. When the second socket can't be had (c was not
// bound with SO_REUSEPORT, or the program is refused) the batch goes out on
// c itself, as before.
func newSendSocket(c *net.UDPConn) (*sendSocket, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &sendSocket{conn: c, sys: sysConn{raw: raw}}
	f, err := sendOnlySocket(raw)
	if err != nil {
		s.shared = err
		return s, nil
	}
	fraw, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		s.shared = err
		return s, nil
	}
	s.sys.raw, s.file = fraw, f
	return s, nil
}

// steerToFirst is the reuseport group's program: every datagram goes to the
// group's first socket, the media socket the ICE mux reads.
var steerToFirst = []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}

// sendOnlySocket binds a blocking (so that os.NewFile keeps it away from
// the poller; every send is MSG_DONTWAIT) UDP socket to the media socket's
// address, in its reuseport group.
func sendOnlySocket(media syscall.RawConn) (*os.File, error) {
	var (
		sa     unix.Sockaddr
		family int
		v6only int
		err    error
	)
	cerr := media.Control(func(fd uintptr) {
		var on int
		if on, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT); err != nil {
			return
		}
		if on == 0 {
			err = errors.New("media socket not bound with SO_REUSEPORT")
			return
		}
		if sa, err = unix.Getsockname(int(fd)); err != nil {
			return
		}
		prog := unix.SockFprog{Len: uint16(len(steerToFirst)), Filter: &steerToFirst[0]}
		if err = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &prog); err != nil {
			return
		}
		family = unix.AF_INET
		if _, ok := sa.(*unix.SockaddrInet6); ok {
			family = unix.AF_INET6
			v6only, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
		}
	})
	if cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, err
	}
	err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	if err == nil && family == unix.AF_INET6 {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only)
	}
	if err == nil {
		err = unix.Bind(fd, sa)
	}
	if err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "surge-media-send"), nil
}

// listenMedia binds the media socket with SO_REUSEPORT, so that
// newSendSocket can add its send-only socket to the group. A plain bind
// comes first and decides the port: it fails as it always did when
// anything holds the address (a second Surge on the same port gets
// "address already in use", not a silent share of it), and, for port 0, it
// takes a port no reuseport group holds, which the kernel's own pick for a
// reuseport socket does not promise.
func listenMedia(addr string) (net.PacketConn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	for attempt := 0; ; attempt++ {
		probe, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, err
		}
		port := probe.LocalAddr().(*net.UDPAddr).Port
		_ = probe.Close()
		c, err := lc.ListenPacket(context.Background(), "udp", net.JoinHostPort(host, strconv.Itoa(port)))
		// Somebody took the port between the two binds: probe again
		// (for a fixed port the probe then reports who holds it).
		if errors.Is(err, unix.EADDRINUSE) && attempt < 3 {
			continue
		}
		return c, err
	}
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
