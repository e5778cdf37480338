package loadbot

import (
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
)

// A shaped link plays a participant on a weak network without root or tc:
// the bot's SettingEngine gets a transport.Net whose UDP sockets pass every
// datagram through a rate limiter with a bounded queue (tail drop), a fixed
// delay and random loss — on receive for the downlink, on send for the
// uplink. Unshaped bots use Pion's own stdnet and never touch this code.

// LinkStats counts what a shaped link did to traffic, and lets its
// downlink rate change mid-run (a test lifting a limit).
type LinkStats struct {
	DownPackets, DownLost, DownQueueDrops atomic.Int64
	UpPackets, UpLost, UpQueueDrops       atomic.Int64

	downKbps atomic.Int64 // 0: as configured; <0: unlimited
}

// SetDownlinkKbps changes the downlink rate from the next packet on;
// kbps <= 0 lifts the limit.
func (l *LinkStats) SetDownlinkKbps(kbps int) {
	if kbps <= 0 {
		kbps = -1
	}
	l.downKbps.Store(int64(kbps))
}

// shapedNet is stdnet with shaped UDP sockets.
type shapedNet struct {
	*stdnet.Net
	cfg   LinkConfig
	stats *LinkStats
	seed  uint64
}

// newShapedNet returns a transport.Net applying cfg to every UDP socket
// opened through it.
func newShapedNet(cfg LinkConfig, stats *LinkStats, seed uint64) (transport.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	if cfg.QueueMs <= 0 {
		cfg.QueueMs = 200
	}
	return &shapedNet{Net: n, cfg: cfg, stats: stats, seed: seed}, nil
}

func (n *shapedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	n.seed++
	return newShapedConn(c, n.cfg, n.stats, n.seed), nil
}

func (n *shapedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	return listenPacket(n, network, address)
}

// datagram is one packet in a link's queue.
type datagram struct {
	data []byte
	addr net.Addr
	at   time.Time // when it leaves the link
	err  error     // the socket's read error, delivered last
}

// shaper decides, for one direction, when a packet leaves the link or
// whether it is dropped. It is pure state; callers serialise access.
type shaper struct {
	bps   float64       // 0: unlimited
	delay time.Duration // one-way propagation
	queue time.Duration // max wait behind the rate limit
	loss  float64       // 0..1
	rng   *rand.Rand
	free  time.Time // when the link finishes sending what it already holds
	// The link flaps: it is down (loses everything) for flapDown at the
	// start of every flapEvery, on the wall clock, so both directions and
	// every socket of a bot go down together.
	flapEvery, flapDown time.Duration
}

func newShaper(kbps, delayMs int, lossPct float64, queueMs int, seed uint64) shaper {
	return shaper{
		bps:   float64(kbps) * 1000,
		delay: time.Duration(delayMs) * time.Millisecond,
		queue: time.Duration(queueMs) * time.Millisecond,
		loss:  lossPct / 100,
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

func (s *shaper) active() bool { return s.bps > 0 || s.delay > 0 || s.loss > 0 || s.flapEvery > 0 }

// flapping sets the link's outages (both zero: none).
func (s *shaper) flapping(everyMs, downMs int) {
	s.flapEvery, s.flapDown = time.Duration(everyMs)*time.Millisecond, time.Duration(downMs)*time.Millisecond
}

// admit returns when a packet of size bytes arriving at now leaves the
// link, or lost/queueDrop if it never does.
func (s *shaper) admit(size int, now time.Time) (at time.Time, lost, queueDrop bool) {
	if s.flapEvery > 0 && time.Duration(now.UnixNano()%int64(s.flapEvery)) < s.flapDown {
		return time.Time{}, true, false
	}
	if s.loss > 0 && s.rng.Float64() < s.loss {
		return time.Time{}, true, false
	}
	if s.bps > 0 {
		start := s.free
		if start.Before(now) {
			start = now
		}
		if start.Sub(now) > s.queue {
			return time.Time{}, false, true
		}
		// UDP/IP overhead counts against the link, as on a real one.
		s.free = start.Add(time.Duration(float64((size+28)*8) / s.bps * float64(time.Second)))
		now = s.free
	}
	return now.Add(s.delay), false, false
}

// shapedConn wraps one UDP socket.
type shapedConn struct {
	transport.UDPConn
	stats *LinkStats
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	down   shaper // owned by the pump goroutine
	rx     chan datagram
	rxHead *datagram // owned by the (single) reader

	upMu sync.Mutex
	up   shaper
	tx   chan datagram

	deadline atomic.Pointer[time.Time]
}

const linkQueuePackets = 4096

func newShapedConn(c transport.UDPConn, cfg LinkConfig, stats *LinkStats, seed uint64) *shapedConn {
	s := &shapedConn{
		UDPConn: c,
		stats:   stats,
		done:    make(chan struct{}),
		down:    newShaper(cfg.DownlinkKbps, cfg.DelayMs, cfg.LossPct, cfg.QueueMs, seed),
		up:      newShaper(cfg.UplinkKbps, 0, 0, cfg.QueueMs, seed+1),
		rx:      make(chan datagram, linkQueuePackets),
		tx:      make(chan datagram, linkQueuePackets),
	}
	s.down.flapping(cfg.FlapEveryMs, cfg.FlapDownMs)
	s.up.flapping(cfg.FlapEveryMs, cfg.FlapDownMs)
	s.wg.Add(2)
	go s.pump()
	go s.sender()
	return s
}

// pump reads the real socket and queues datagrams with their exit times.
func (s *shapedConn) pump() {
	defer s.wg.Done()
	for {
		buf := make([]byte, 1500)
		n, addr, err := s.UDPConn.ReadFrom(buf)
		if err != nil {
			select {
			case s.rx <- datagram{err: err}:
			case <-s.done:
			}
			return
		}
		s.stats.DownPackets.Add(1)
		if k := s.stats.downKbps.Load(); k != 0 {
			s.down.bps = max(float64(k)*1000, 0)
		}
		at, lost, qdrop := s.down.admit(n, time.Now())
		switch {
		case lost:
			s.stats.DownLost.Add(1)
			continue
		case qdrop:
			s.stats.DownQueueDrops.Add(1)
			continue
		}
		select {
		case s.rx <- datagram{data: buf[:n], addr: addr, at: at}:
		default:
			s.stats.DownQueueDrops.Add(1)
		}
	}
}

// ReadFrom returns the next datagram once the link has delivered it.
func (s *shapedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if s.rxHead == nil {
		var timeout <-chan time.Time
		if d := s.deadline.Load(); d != nil && !d.IsZero() {
			t := time.NewTimer(time.Until(*d))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case d := <-s.rx:
			s.rxHead = &d
		case <-s.done:
			return 0, nil, net.ErrClosed
		case <-timeout:
			return 0, nil, errTimeout{}
		}
	}
	d := s.rxHead
	if d.err != nil {
		return 0, nil, d.err
	}
	if wait := time.Until(d.at); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return 0, nil, net.ErrClosed
		}
	}
	s.rxHead = nil
	return copy(p, d.data), d.addr, nil
}

func (s *shapedConn) ReadFromUDP(p []byte) (int, *net.UDPAddr, error) {
	n, a, err := s.ReadFrom(p)
	ua, _ := a.(*net.UDPAddr)
	return n, ua, err
}

func (s *shapedConn) SetReadDeadline(t time.Time) error {
	s.deadline.Store(&t)
	return nil
}

func (s *shapedConn) SetDeadline(t time.Time) error {
	s.deadline.Store(&t)
	return s.UDPConn.SetWriteDeadline(t)
}

// WriteTo sends p through the uplink shaper.
func (s *shapedConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !s.up.active() {
		return s.UDPConn.WriteTo(p, addr)
	}
	s.stats.UpPackets.Add(1)
	s.upMu.Lock()
	at, lost, qdrop := s.up.admit(len(p), time.Now())
	s.upMu.Unlock()
	switch {
	case lost:
		s.stats.UpLost.Add(1)
		return len(p), nil
	case qdrop:
		s.stats.UpQueueDrops.Add(1)
		return len(p), nil
	}
	select {
	case s.tx <- datagram{data: append([]byte(nil), p...), addr: addr, at: at}:
	default:
		s.stats.UpQueueDrops.Add(1)
	}
	return len(p), nil
}

func (s *shapedConn) WriteToUDP(p []byte, addr *net.UDPAddr) (int, error) {
	return s.WriteTo(p, addr)
}

// sender writes queued uplink datagrams when they leave the link.
func (s *shapedConn) sender() {
	defer s.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case d := <-s.tx:
			if wait := time.Until(d.at); wait > 0 {
				t.Reset(wait)
				select {
				case <-t.C:
				case <-s.done:
					return
				}
			}
			_, _ = s.UDPConn.WriteTo(d.data, d.addr)
		case <-s.done:
			return
		}
	}
}

func (s *shapedConn) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.UDPConn.Close()
		s.wg.Wait()
	})
	return err
}

// errTimeout is a net.Error for an expired read deadline.
type errTimeout struct{}

func (errTimeout) Error() string   { return "i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }
