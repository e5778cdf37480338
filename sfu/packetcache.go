package sfu

import (
	"sync"

	"github.com/surgertc/surge/simulcast"
)

// maxPacketSize bounds what the cache keeps per packet; larger packets are
// not cached (and so cannot be retransmitted). Media over UDP on the public
// internet stays under ~1200 bytes.
const maxPacketSize = 1500

// packetCache keeps the most recent packets of one upstream stream (one
// simulcast layer) so that every subscriber's NACK can be answered from one
// copy: one cache per upstream track, shared by all its subscribers. Slots are
// indexed by sequence number; a slot remembers which sequence number it holds,
// so a lookup of an evicted packet misses instead of returning a newer one.
//
// A slot keeps the packet's Meta beside its bytes, so that a retransmission
// is rewritten from the parse made on arrival, not from a second one.
//
// One goroutine (the layer's read loop) stores; the subscribers' RTCP
// goroutines load. The lock is held only for a copy.
type packetCache struct {
	mu    sync.Mutex
	mask  uint16
	slots []cacheSlot
}

type cacheSlot struct {
	seq     uint16
	n       int   // 0 = empty
	arrival int64 // unix nanos
	meta    simulcast.Meta
	bytes   [maxPacketSize]byte
}

// newPacketCache returns a cache of size packets, rounded up to a power of
// two no larger than 32768 so that a slot is a mask away from its sequence number.
func newPacketCache(size int) *packetCache {
	n := 64
	for n < size && n < 1<<15 {
		n <<= 1
	}
	return &packetCache{mask: uint16(n - 1), slots: make([]cacheSlot, n)}
}

// store copies pkt (a whole RTP packet, described by m) that arrived at
// arrival (unix nanos) into the slot for seq.
func (c *packetCache) store(seq uint16, pkt []byte, m *simulcast.Meta, arrival int64) {
	if len(pkt) > maxPacketSize {
		return
	}
	c.mu.Lock()
	s := &c.slots[seq&c.mask]
	s.seq = seq
	s.arrival = arrival
	s.meta = *m
	s.n = copy(s.bytes[:], pkt)
	c.mu.Unlock()
}

// load copies the packet with sequence number seq into dst and its Meta
// into m, and returns its length, or 0 when the packet is not (or no
// longer) cached or arrived before notBefore (unix nanos): a retransmission
// that late is useless to the decoder and only adds to the congestion that
// lost it.
func (c *packetCache) load(seq uint16, dst []byte, m *simulcast.Meta, notBefore int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.slots[seq&c.mask]
	if s.n == 0 || s.seq != seq || len(dst) < s.n || s.arrival < notBefore {
		return 0
	}
	*m = s.meta
	return copy(dst, s.bytes[:s.n])
}
