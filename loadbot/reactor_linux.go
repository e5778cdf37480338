//go:build linux && (amd64 || arm64)

package loadbot

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/pion/transport/v2"
	"golang.org/x/sys/unix"
)

// A reactor reads the UDP sockets of many subscribers on one goroutine.
// With Go's netpoller every received packet wakes a goroutine, and it
// reads the socket twice (the packet, then EAGAIN): at tens of thousands
// of packets a second that is most of a loadbot process's CPU. A reactor
// owns its sockets outright (they are never given to Go's poller), waits
// for any of them in one epoll_wait, then drains each ready one with
// recvmmsg and decrypts and records the media in place (srtpReceiver).
// It waits reactorCycle between rounds so that packets gather: the kernel
// timestamps each packet on arrival (SO_TIMESTAMPNS), so latency, jitter
// and TWCC arrival times stay exact (and free of loadbot's own scheduling
// delays); only the bot's reaction (NACK, PLI) is up to a cycle later.
//
// Datagrams Pion must see (STUN, DTLS, RTCP, media before the keys are
// known) go to the socket's reactorConn, which Pion's ICE reads as its
// candidate's UDP socket; Pion's writes go straight to the socket.

const (
	// reactorCycle: 3 ms gathers a frame's packets into one recvmmsg per
	// socket (0.51× the CPU per packet of Pion's path; 1 ms: 0.65×) and
	// is small beside the 20 ms between a subscriber's NACK decisions.
	reactorCycle = 3 * time.Millisecond
	reactorBatch = 32 // datagrams per recvmmsg
	// reactorQueue bounds what waits for Pion on one socket; it only
	// ever holds handshakes and control packets.
	reactorQueue = 64
)

// reactor is one epoll loop.
type reactor struct {
	epfd int
	stop int // eventfd that ends the loop
	done chan struct{}

	mu    sync.Mutex
	conns map[int32]*reactorConn

	// Owned by the loop.
	s     *scratch
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	bufs  [][]byte
	names []unix.RawSockaddrInet4
	oob   [][]byte
}

// mmsghdr is struct mmsghdr from <sys/socket.h> (64-bit layout).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// oobLen holds one SCM_TIMESTAMPNS control message.
const oobLen = unix.SizeofCmsghdr + 16

func newReactor() (*reactor, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("reactor: epoll: %w", err)
	}
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("reactor: eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, stop, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(stop)}); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(stop)
		return nil, fmt.Errorf("reactor: epoll add: %w", err)
	}
	r := &reactor{epfd: epfd, stop: stop, done: make(chan struct{}), conns: map[int32]*reactorConn{}, s: newScratch()}
	r.hdrs = make([]mmsghdr, reactorBatch)
	r.iovs = make([]unix.Iovec, reactorBatch)
	r.bufs = make([][]byte, reactorBatch)
	r.names = make([]unix.RawSockaddrInet4, reactorBatch)
	r.oob = make([][]byte, reactorBatch)
	for i := range r.hdrs {
		r.bufs[i] = make([]byte, receiveMTU)
		r.oob[i] = make([]byte, oobLen)
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(receiveMTU)
		h := &r.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Control = &r.oob[i][0]
	}
	go r.run()
	return r, nil
}

func (r *reactor) run() {
	defer close(r.done)
	events := make([]unix.EpollEvent, 128)
	ready := make([]*reactorConn, 0, 128)
	for {
		start := time.Now()
		n, err := unix.EpollWait(r.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		ready = ready[:0]
		r.mu.Lock()
		for _, ev := range events[:n] {
			if int(ev.Fd) == r.stop {
				r.mu.Unlock()
				return
			}
			if c := r.conns[ev.Fd]; c != nil {
				ready = append(ready, c)
			}
		}
		r.mu.Unlock()
		for _, c := range ready {
			r.drain(c)
		}
		clear(ready)
		if d := reactorCycle - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
}

// drain reads every datagram waiting on c.
func (r *reactor) drain(c *reactorConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	for {
		for i := range r.hdrs {
			h := &r.hdrs[i].hdr
			h.Namelen = unix.SizeofSockaddrInet4
			h.SetControllen(oobLen)
			h.Flags = 0
		}
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&r.hdrs[0])),
			uintptr(len(r.hdrs)), unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 {
			return // EAGAIN: drained
		}
		for i := 0; i < int(n); i++ {
			m := &r.hdrs[i]
			b := r.bufs[i][:m.n]
			now := kernelTime(r.oob[i][:m.hdr.Controllen])
			consumed := c.rx.receive(b, now, r.s)
			if local := c.rx.armed(); local != nil {
				c.rx.sink.onKeyed(c.senderTo(&r.names[i]), local)
			}
			if !consumed {
				c.toPion(b, &r.names[i])
			}
		}
		if int(n) < len(r.hdrs) {
			return
		}
	}
}

// kernelTime is the arrival time the kernel stamped (SCM_TIMESTAMPNS), or
// now if there is none.
func kernelTime(oob []byte) time.Time {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && l >= unix.SizeofCmsghdr+16 {
			ts := (*unix.Timespec)(unsafe.Pointer(&oob[unix.SizeofCmsghdr]))
			return time.Unix(ts.Sec, ts.Nsec)
		}
		oob = oob[(l+7)&^7:]
	}
	return time.Now()
}

func (r *reactor) add(c *reactorConn) error {
	r.mu.Lock()
	r.conns[int32(c.fd)] = c
	r.mu.Unlock()
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)}); err != nil {
		r.remove(c)
		return fmt.Errorf("reactor: epoll add: %w", err)
	}
	return nil
}

func (r *reactor) remove(c *reactorConn) {
	_ = unix.EpollCtl(r.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	r.mu.Lock()
	if r.conns[int32(c.fd)] == c {
		delete(r.conns, int32(c.fd))
	}
	r.mu.Unlock()
}

// close ends the loop; the sockets are their owners' to close.
func (r *reactor) close() {
	var one = [8]byte{1}
	_, _ = unix.Write(r.stop, one[:])
	<-r.done
	_ = unix.Close(r.epfd)
	_ = unix.Close(r.stop)
}

// reactors spreads sockets over one reactor per core.
type reactors struct {
	rs   []*reactor
	next atomic.Uint32
}

func newReactors(n int) (*reactors, error) {
	p := &reactors{}
	for i := 0; i < n; i++ {
		r, err := newReactor()
		if err != nil {
			p.close()
			return nil, err
		}
		p.rs = append(p.rs, r)
	}
	return p, nil
}

func (p *reactors) pick() *reactor { return p.rs[int(p.next.Add(1))%len(p.rs)] }

func (p *reactors) close() {
	if p == nil {
		return
	}
	for _, r := range p.rs {
		r.close()
	}
}

// datagram is one packet waiting for Pion.
type datagramIn struct {
	b    []byte
	addr *net.UDPAddr
}

// reactorConn is a UDP socket a reactor reads; Pion's ICE uses it as its
// candidate's transport.UDPConn.
type reactorConn struct {
	fd    int
	laddr *net.UDPAddr
	r     *reactor
	rx    srtpReceiver
	queue chan datagramIn // to Pion

	mu     sync.Mutex // held by the reactor while it drains; Close waits for it
	closed bool
	last   *net.UDPAddr // the last sender's address, reused while it does not change

	fdMu     sync.RWMutex // writers hold it shared: Close never pulls the fd from under a send
	fdClosed bool

	done      chan struct{}
	closeOnce sync.Once
	deadline  atomic.Pointer[time.Time]
	kick      chan struct{} // the read deadline moved
}

// reactorNet opens a subscriber's IPv4 UDP sockets on the reactors, and
// any other through the host network as mediaConns.
type reactorNet struct {
	transport.Net
	rs   *reactors
	keys *srtpKeys
	sink mediaSink
}

func newReactorNet(rs *reactors, host transport.Net, keys *srtpKeys, sink mediaSink) transport.Net {
	if rs == nil {
		return nil
	}
	return &reactorNet{Net: host, rs: rs, keys: keys, sink: sink}
}

func (n *reactorNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	if laddr == nil {
		laddr = &net.UDPAddr{}
	}
	if network == "udp4" || (network == "udp" && laddr.IP.To4() != nil) {
		return listenReactor(n.rs.pick(), laddr, n.keys, n.sink)
	}
	// IPv6: decrypted on Pion's read path instead.
	return (&mediaNet{Net: n.Net, keys: n.keys, sink: n.sink}).ListenUDP(network, laddr)
}

func (n *reactorNet) ListenPacket(network, address string) (net.PacketConn, error) {
	return listenPacket(n, network, address)
}

// listenReactor opens a UDP socket on laddr (IPv4) and gives it to r.
func listenReactor(r *reactor, laddr *net.UDPAddr, keys *srtpKeys, sink mediaSink) (*reactorConn, error) {
	ip4 := laddr.IP.To4()
	if ip4 == nil && laddr.IP != nil {
		return nil, errors.New("reactor: IPv4 only")
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*reactorConn, error) {
		_ = unix.Close(fd)
		return nil, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fail(err)
	}
	sa := &unix.SockaddrInet4{Port: laddr.Port}
	copy(sa.Addr[:], ip4)
	if err := unix.Bind(fd, sa); err != nil {
		return fail(err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return fail(err)
	}
	b, ok := got.(*unix.SockaddrInet4)
	if !ok {
		return fail(errors.New("reactor: not an IPv4 socket"))
	}
	c := &reactorConn{
		fd: fd, r: r, rx: srtpReceiver{keys: keys, sink: sink},
		laddr: &net.UDPAddr{IP: net.IP(append([]byte(nil), b.Addr[:]...)), Port: b.Port},
		queue: make(chan datagramIn, reactorQueue),
		done:  make(chan struct{}),
		kick:  make(chan struct{}, 1),
	}
	if err := r.add(c); err != nil {
		return fail(err)
	}
	return c, nil
}

// senderTo returns an rtcpSender for the peer at to.
func (c *reactorConn) senderTo(to *unix.RawSockaddrInet4) rtcpSender {
	pb := (*[2]byte)(unsafe.Pointer(&to.Port)) // network byte order
	sa := &unix.SockaddrInet4{Port: int(pb[0])<<8 | int(pb[1]), Addr: to.Addr}
	return &reactorSender{c: c, to: sa}
}

// reactorSender writes SRTCP straight to the socket: no Pion write path,
// no address conversion per packet.
type reactorSender struct {
	c  *reactorConn
	to *unix.SockaddrInet4
}

func (s *reactorSender) sendRTCP(p []byte) error {
	s.c.fdMu.RLock()
	defer s.c.fdMu.RUnlock()
	if s.c.fdClosed {
		return net.ErrClosed
	}
	if err := unix.Sendto(s.c.fd, p, 0, s.to); err != nil && !errors.Is(err, unix.EAGAIN) {
		return err
	}
	return nil
}

// toPion queues a datagram for Pion's reader; called by the reactor with
// c.mu held.
func (c *reactorConn) toPion(b []byte, from *unix.RawSockaddrInet4) {
	pb := (*[2]byte)(unsafe.Pointer(&from.Port)) // network byte order
	port := int(pb[0])<<8 | int(pb[1])
	if c.last == nil || c.last.Port != port || !net.IP(from.Addr[:]).Equal(c.last.IP) {
		c.last = &net.UDPAddr{IP: net.IP(append([]byte(nil), from.Addr[:]...)), Port: port}
	}
	select {
	case c.queue <- datagramIn{b: append([]byte(nil), b...), addr: c.last}:
	default:
		// Pion is not reading (closing): drop, as a full socket would.
	}
}

func (c *reactorConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		var timeout <-chan time.Time
		var t *time.Timer
		if d := c.deadline.Load(); d != nil && !d.IsZero() {
			wait := time.Until(*d)
			if wait <= 0 {
				return 0, nil, errTimeout{}
			}
			t = time.NewTimer(wait)
			timeout = t.C
		}
		var (
			d     datagramIn
			got   bool
			err   error
			again bool
		)
		select {
		case d = <-c.queue:
			got = true
		case <-c.done:
			err = net.ErrClosed
		case <-timeout:
			err = errTimeout{}
		case <-c.kick:
			again = true
		}
		if t != nil {
			t.Stop()
		}
		switch {
		case got:
			return copy(p, d.b), d.addr, nil
		case !again:
			return 0, nil, err
		}
	}
}

func (c *reactorConn) ReadFromUDP(p []byte) (int, *net.UDPAddr, error) {
	n, a, err := c.ReadFrom(p)
	ua, _ := a.(*net.UDPAddr)
	return n, ua, err
}

func (c *reactorConn) Read(p []byte) (int, error) {
	n, _, err := c.ReadFrom(p)
	return n, err
}

func (c *reactorConn) ReadMsgUDP(p, _ []byte) (int, int, int, *net.UDPAddr, error) {
	n, a, err := c.ReadFromUDP(p)
	return n, 0, 0, a, err
}

func (c *reactorConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("reactor: write to %v: not a UDP address", addr)
	}
	return c.WriteToUDP(p, ua)
}

func (c *reactorConn) WriteToUDP(p []byte, addr *net.UDPAddr) (int, error) {
	ip4 := addr.IP.To4()
	if ip4 == nil {
		return 0, fmt.Errorf("reactor: write to %v: IPv4 only", addr)
	}
	c.rx.sent(p)
	sa := unix.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], ip4)
	c.fdMu.RLock()
	defer c.fdMu.RUnlock()
	if c.fdClosed {
		return 0, net.ErrClosed
	}
	switch err := unix.Sendto(c.fd, p, 0, &sa); {
	case errors.Is(err, unix.EAGAIN):
		// A full socket buffer drops the datagram, as a NIC queue would.
	case err != nil:
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.laddr, Addr: addr, Err: err}
	}
	return len(p), nil
}

func (c *reactorConn) WriteMsgUDP(p, _ []byte, addr *net.UDPAddr) (int, int, error) {
	n, err := c.WriteToUDP(p, addr)
	return n, 0, err
}

func (c *reactorConn) Write([]byte) (int, error) {
	return 0, errors.New("reactor: socket not connected")
}

func (c *reactorConn) Close() error {
	c.closeOnce.Do(func() {
		c.r.remove(c)
		c.mu.Lock() // waits for a drain in progress
		c.closed = true
		c.fdMu.Lock() // and for sends
		c.fdClosed = true
		_ = unix.Close(c.fd)
		c.fdMu.Unlock()
		c.mu.Unlock()
		close(c.done)
	})
	return nil
}

func (c *reactorConn) LocalAddr() net.Addr  { return c.laddr }
func (c *reactorConn) RemoteAddr() net.Addr { return nil }

func (c *reactorConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *reactorConn) SetReadDeadline(t time.Time) error {
	c.deadline.Store(&t)
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

// SetWriteDeadline is a no-op: a UDP send does not wait.
func (c *reactorConn) SetWriteDeadline(time.Time) error { return nil }

func (c *reactorConn) SetReadBuffer(n int) error {
	return unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n)
}

func (c *reactorConn) SetWriteBuffer(n int) error {
	return unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n)
}
