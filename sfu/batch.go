package sfu

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu/bwe"
)

// batchSize is how many packets a batch holds before it must be sent.
const batchSize = 64

// slotSize fits a full packet, the SRTP tag and slack.
const slotSize = maxPacketSize + 64

// sendSocket is the media UDP socket as the fast send path writes to it:
// the same socket the ICE mux reads from and Pion writes to, so every
// subscriber sees one address and one port.
type sendSocket struct {
	conn *net.UDPConn
	sys  sysConn  // platform part: sendmmsg on Linux
	file *os.File // the send-only socket sys writes to, if not conn
	// shared says why the fast path sends on conn itself (nil: it has a
	// send-only socket, or the platform has no such thing).
	shared error
	// gso: a subscriber's run of packets in a batch leaves in one send
	// (batch_linux.go). Cleared for good if the kernel refuses one.
	gso   atomic.Bool
	noGSO error // why gso is off from the start
	// gsoRefused, if set, hears once that the kernel refused a GSO send
	// and gso went off: the server logs it and lowers surge_udp_gso.
	gsoRefused func(error)
}

// refuseGSO turns gso off for good after the kernel refused a GSO send.
func (s *sendSocket) refuseGSO(err error) {
	if s.gso.CompareAndSwap(true, false) && s.gsoRefused != nil {
		s.gsoRefused(err)
	}
}

// Close closes the send-only socket, if there is one; conn belongs to the
// ICE mux.
func (s *sendSocket) Close() error {
	if s == nil || s.file == nil {
		return nil
	}
	return s.file.Close()
}

// dest is a subscriber's address, prepared once for the send syscall.
type dest struct {
	addr netip.AddrPort
	sa   sockaddr
}

// batch collects the packets one fan-out writes and sends them with one
// syscall: at the end of the fan-out, or when full. A batch belongs to one
// goroutine at a time; get one from the pool for each fan-out.
type batch struct {
	sock  *sendSocket
	m     *metrics.SFU
	n     int
	slots [batchSize]batchSlot
	plat  batchPlatform

	pkts, bytes [2]int // per metrics.Kind, added to the counters at flush
}

type batchSlot struct {
	buf   [slotSize]byte
	len   int
	to    *dest
	kind  metrics.Kind
	hist  *bwe.History // nil: no transport-wide sequence number
	seq   uint64
	size  int // RTP size (before SRTP) recorded for feedback
	probe int
	// failed is set by send when the kernel refused the packet.
	failed bool
}

var batchPool = sync.Pool{New: func() any { return newBatch() }}

func getBatch(sock *sendSocket, m *metrics.SFU) *batch {
	b := batchPool.Get().(*batch)
	b.sock, b.m = sock, m
	return b
}

func putBatch(b *batch) {
	b.sock, b.m = nil, nil
	batchPool.Put(b)
}

// next returns the slot for the next packet, sending the batch first if it
// is full.
func (b *batch) next() *batchSlot {
	if b.n == batchSize {
		b.flush()
	}
	s := &b.slots[b.n]
	s.hist, s.failed = nil, false
	return s
}

// commit counts the slot next returned as filled with n bytes.
func (b *batch) commit(s *batchSlot, n int) {
	s.len = n
	b.n++
	b.pkts[s.kind]++
	b.bytes[s.kind] += s.size
}

// flush sends what the batch holds and records the send time of each
// packet in its subscriber's history: the real send, for the estimator.
func (b *batch) flush() {
	if b.n == 0 {
		return
	}
	sent, msgs := b.send()
	now := time.Now()
	for i := 0; i < b.n; i++ {
		if s := &b.slots[i]; s.hist != nil && !s.failed {
			s.hist.Sent(s.seq, s.size, s.probe, now)
		}
	}
	if b.m != nil {
		b.m.UDPMessages().Add(float64(msgs))
		if dropped := b.n - sent; dropped > 0 {
			b.m.Dropped(metrics.DropWriteError).Add(float64(dropped))
		}
		for k := range b.pkts {
			if b.pkts[k] > 0 {
				b.m.PacketsOut(metrics.Kind(k)).Add(float64(b.pkts[k]))
				b.m.BytesOut(metrics.Kind(k)).Add(float64(b.bytes[k]))
			}
		}
	}
	b.n = 0
	b.pkts, b.bytes = [2]int{}, [2]int{}
}
