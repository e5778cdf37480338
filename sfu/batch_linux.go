package sfu

import (
	"context"
	"errors"
	"fmt"
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
	msgs [batchSize]mmsghdr
	iovs [batchSize]unix.Iovec
	// cmsgs holds each message's UDP_SEGMENT size; uint64 for the
	// alignment of a cmsghdr.
	cmsgs   [batchSize][4]uint64
	first   [batchSize + 1]int // the first slot of each message
	nmsgs   int
	sent    int              // messages the kernel has taken
	resent  int              // extra messages: a refused GSO send's datagrams one by one
	control func(fd uintptr) // b.writeMsgs, bound once: no closure per send
}

// maxSegments caps the datagrams of one GSO send (the kernel takes 64 on
// every version that has UDP_SEGMENT).
const maxSegments = 32

// maxSegmentSize keeps GSO to datagrams that fit a 1500-byte Ethernet MTU
// with IPv6 and UDP headers: the kernel refuses a GSO send whose segment
// exceeds the route's MTU, where the same datagrams sent one by one would
// merely be fragmented.
const maxSegmentSize = 1500 - 40 - 8

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
//
// With gso, a subscriber's consecutive packets of one size in a batch leave
// as one UDP GSO send (UDP_SEGMENT, Linux 4.18+), which the kernel cuts
// into datagrams after routing it once: on loopback it cost 0.43× the
// CPU per datagram of one-datagram messages, 250 destinations × 5 packets
// of 1 200 bytes (docs/performance.md). The receiver sees the same
// datagrams either way.
func newSendSocket(c *net.UDPConn, gso bool) (*sendSocket, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &sendSocket{conn: c, sys: sysConn{raw: raw}}
	if f, err := sendOnlySocket(raw); err != nil {
		s.shared = err
	} else if fraw, err := f.SyscallConn(); err != nil {
		_ = f.Close()
		s.shared = err
	} else {
		s.sys.raw, s.file = fraw, f
	}
	if !gso {
		s.noGSO = errors.New("forward.udp_gso is off")
		return s, nil
	}
	var gerr error
	if err := s.sys.raw.Control(func(fd uintptr) {
		_, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	}); err != nil {
		gerr = err
	}
	if gerr != nil {
		s.noGSO = fmt.Errorf("the kernel has no UDP GSO: %w", gerr)
		return s, nil
	}
	s.gso.Store(true)
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

// send writes the batch and returns how many packets the kernel took, and
// in how many messages they were handed over; the socket is non-blocking
// and a full send buffer drops the rest (counted) rather than stall the
// fan-out.
func (b *batch) send() (sent, msgs int) {
	gso := b.sock.gso.Load()
	m := 0
	for i := 0; i < b.n; m++ {
		s := &b.slots[i]
		j := i + 1
		// One message: the slots to one destination, all of s's size but
		// the last, which may be shorter (the kernel's rule for segments).
		// Never a probe's: the estimator reads the link from how it
		// spaces a probe's packets, and a qdisc on this host (tc shaping
		// the SFU's egress) passes a GSO message as one clump, which
		// reads as a link without limit.
		if gso && s.len <= maxSegmentSize && s.probe == 0 {
			for j < b.n && j-i < maxSegments && b.slots[j].to == s.to && b.slots[j].probe == 0 && b.slots[j-1].len == s.len && b.slots[j].len <= s.len {
				j++
			}
		}
		for k := i; k < j; k++ {
			iov := &b.plat.iovs[k]
			iov.Base = &b.slots[k].buf[0]
			iov.SetLen(b.slots[k].len)
		}
		h := &b.plat.msgs[m].hdr
		h.Name = (*byte)(unsafe.Pointer(&s.to.sa.raw))
		h.Namelen = s.to.sa.len
		h.Iov = &b.plat.iovs[i]
		h.SetIovlen(j - i)
		h.Control, h.Controllen, h.Flags = nil, 0, 0
		if j-i > 1 {
			c := &b.plat.cmsgs[m]
			ch := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
			ch.Level, ch.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
			ch.SetLen(unix.CmsgLen(2))
			*(*uint16)(unsafe.Add(unsafe.Pointer(c), unix.CmsgLen(0))) = uint16(s.len)
			h.Control = (*byte)(unsafe.Pointer(c))
			h.SetControllen(unix.CmsgSpace(2))
		}
		b.plat.first[m] = i
		i = j
	}
	b.plat.first[m] = b.n
	b.plat.nmsgs, b.plat.sent, b.plat.resent = m, 0, 0
	// Control, not Write: Write holds the socket's write lock for the
	// whole syscall, which serialises the fan-out workers' batches on the
	// one media socket. The send never waits for the poller (MSG_DONTWAIT,
	// a full buffer drops), so the lock buys nothing, and the kernel takes
	// concurrent sendmmsg on a UDP socket.
	if err := b.sock.sys.raw.Control(b.plat.control); err != nil {
		b.failMsgs(b.plat.sent, b.plat.nmsgs)
	}
	for i := 0; i < b.n; i++ {
		if !b.slots[i].failed {
			sent++
		}
	}
	return sent, m + b.plat.resent
}

// failMsgs marks the slots of messages [from, to) as not sent.
func (b *batch) failMsgs(from, to int) {
	for i := b.plat.first[from]; i < b.plat.first[to]; i++ {
		b.slots[i].failed = true
	}
}

func (b *batch) writeMsgs(fd uintptr) {
	p := &b.plat
	for p.sent < p.nmsgs {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&p.msgs[p.sent])), uintptr(p.nmsgs-p.sent), unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			lo, hi := p.first[p.sent], p.first[p.sent+1]
			if hi-lo > 1 && (errno == unix.EIO || errno == unix.EINVAL) {
				// The kernel can't segment here: EIO when the
				// device can't checksum a GSO send, EINVAL when a
				// segment exceeds the device's MTU or the socket
				// sends without checksums. The same datagrams sent
				// one by one go out (fragmented if need be), so send
				// them so, and every batch after this one too.
				b.sock.refuseGSO(errno)
				b.sendEach(fd, lo, hi)
				p.sent++
				continue
			}
			// EAGAIN (send buffer full) or an unreachable destination:
			// drop this message and try the rest.
			b.failMsgs(p.sent, p.sent+1)
			p.sent++
			continue
		}
		p.sent += int(n)
	}
}

// sendEach sends slots [lo, hi), the datagrams of the message at p.sent,
// one message each, reusing that message's header; a refused one is
// dropped and counted like any other.
func (b *batch) sendEach(fd uintptr, lo, hi int) {
	h := &b.plat.msgs[b.plat.sent]
	h.hdr.Control, h.hdr.Controllen = nil, 0
	b.plat.resent += hi - lo - 1
	for k := lo; k < hi; k++ {
		h.hdr.Iov = &b.plat.iovs[k]
		h.hdr.SetIovlen(1)
		for {
			_, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(h)), 1, unix.MSG_DONTWAIT, 0, 0)
			if errno == unix.EINTR {
				continue
			}
			if errno != 0 {
				b.slots[k].failed = true
			}
			break
		}
	}
}
