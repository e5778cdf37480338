package bwe

import (
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// historySize is the number of sent packets remembered for feedback: two
// seconds at 2,000 packets/s, more than any feedback takes to come back.
const historySize = 4096

// A slot packs one sent packet into a word, so writers and readers share
// it without locks: the low 16 bits of its sequence number (which tell a
// stale slot from the one asked for), its size (11 bits), its probe cluster
// (5 bits) and its send time (microseconds since the history's epoch,
// modulo 2^32: about 71 minutes, reconstructed against the reader's clock).
const (
	slotSeqBits   = 16
	slotSizeBits  = 11
	slotProbeBits = 5
	maxSlotSize   = 1<<slotSizeBits - 1
	// MaxProbeCluster is the highest probe cluster id a slot can carry;
	// ids cycle 1..MaxProbeCluster, 0 marks media.
	MaxProbeCluster = 1<<slotProbeBits - 1
)

// History hands out transport-wide sequence numbers and remembers when each
// packet was sent. Next and Sent may be called from any goroutine; Results
// from one goroutine at a time.
type History struct {
	epoch time.Time
	next  atomic.Uint64 // next extended sequence number to hand out
	slots [historySize]atomic.Uint64
}

// NewHistory starts a history whose clock starts at epoch.
func NewHistory(epoch time.Time) *History {
	h := &History{epoch: epoch}
	h.next.Store(1) // 0 would read as an empty slot
	return h
}

// Next returns a fresh extended sequence number; its low 16 bits go into
// the packet's transport-wide-cc header extension.
func (h *History) Next() uint64 { return h.next.Add(1) - 1 }

// Sent records packet seq of size bytes (RTP header and payload), sent at
// at as part of probe cluster probe (0: media).
func (h *History) Sent(seq uint64, size, probe int, at time.Time) {
	size = min(max(size, 0), maxSlotSize)
	us := uint64(uint32(at.Sub(h.epoch) / time.Microsecond))
	w := uint64(uint16(seq)) | uint64(size)<<slotSeqBits | uint64(probe&MaxProbeCluster)<<(slotSeqBits+slotSizeBits) | us<<32
	h.slots[seq%historySize].Store(w)
}

// lookup returns what Sent recorded for seq, with its send time as an
// offset from the epoch reconstructed near now.
func (h *History) lookup(seq uint64, now time.Duration) (size, probe int, sent time.Duration, ok bool) {
	w := h.slots[seq%historySize].Load()
	if w == 0 || uint16(w) != uint16(seq) {
		return 0, 0, 0, false
	}
	size = int(w>>slotSeqBits) & maxSlotSize
	probe = int(w>>(slotSeqBits+slotSizeBits)) & MaxProbeCluster
	// The packet was sent before now, by less than the 71 minutes a
	// 32-bit microsecond clock covers.
	nowUS := uint32(now / time.Microsecond)
	back := nowUS - uint32(w>>32)
	return size, probe, now - time.Duration(back)*time.Microsecond, true
}

// unwrap extends a 16-bit sequence number from feedback to the extended one
// nearest the newest handed out.
func (h *History) unwrap(seq uint16) uint64 {
	newest := h.next.Load() - 1
	ext := newest - uint64(uint16(newest)-seq)
	if ext > newest { // underflow at the very start
		return uint64(seq)
	}
	return ext
}

// PacketResult is what feedback says about one sent packet. Times are
// offsets: SendTime from the history's epoch on the sender's clock, Arrival
// from an arbitrary origin on the receiver's clock; only differences mean
// anything.
type PacketResult struct {
	Seq      uint64
	Size     int
	Probe    int // probe cluster id, 0 for media
	SendTime time.Duration
	Arrival  time.Duration
	Received bool
}

// Feedback turns TWCC feedback packets into PacketResults, remembering what
// it needs between packets (the receiver's reference time, for wrap-around,
// and the newest sequence number reported, to skip repeats). It belongs to
// one goroutine.
type Feedback struct {
	h       *History
	started bool
	lastRef int64  // unwrapped reference time of the previous feedback, in 64 ms units
	highest uint64 // newest sequence number reported so far
}

// NewFeedback reads feedback about the packets recorded in h.
func NewFeedback(h *History) *Feedback { return &Feedback{h: h} }

// Results appends the results in fb to out. now is the local time the
// feedback arrived, used only to reconstruct send times. Packets the
// history no longer holds (or never sent) are skipped; so are sequence
// numbers an earlier feedback already reported.
func (f *Feedback) Results(fb *rtcp.TransportLayerCC, now time.Time, out []PacketResult) []PacketResult {
	ref := int64(fb.ReferenceTime & 0xffffff)
	if f.started {
		// 24-bit reference time: take the unwrapped value nearest the last.
		d := (ref - f.lastRef%(1<<24) + 1<<23) & (1<<24 - 1)
		ref = f.lastRef + d - 1<<23
	}
	f.started, f.lastRef = true, ref
	arrival := time.Duration(ref) * 64 * time.Millisecond
	nowOff := now.Sub(f.h.epoch)

	base := f.h.unwrap(fb.BaseSequenceNumber)
	deltas := fb.RecvDeltas
	var i uint64
	emit := func(symbol uint16) {
		seq := base + i
		i++
		received := symbol == rtcp.TypeTCCPacketReceivedSmallDelta || symbol == rtcp.TypeTCCPacketReceivedLargeDelta
		if received {
			if len(deltas) == 0 {
				return // malformed: fewer deltas than received packets
			}
			arrival += time.Duration(deltas[0].Delta) * time.Microsecond
			deltas = deltas[1:]
		}
		if seq <= f.highest && f.highest != 0 {
			return
		}
		size, probe, sent, ok := f.h.lookup(seq, nowOff)
		if !ok {
			return
		}
		out = append(out, PacketResult{Seq: seq, Size: size, Probe: probe, SendTime: sent, Arrival: arrival, Received: received})
	}
	count := uint64(fb.PacketStatusCount)
	for _, c := range fb.PacketChunks {
		if i >= count {
			break
		}
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for n := uint16(0); n < c.RunLength && i < count; n++ {
				emit(c.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, s := range c.SymbolList {
				if i >= count {
					break
				}
				if c.SymbolSize == rtcp.TypeTCCSymbolSizeOneBit && s == 1 {
					s = rtcp.TypeTCCPacketReceivedSmallDelta
				}
				emit(s)
			}
		}
	}
	if last := base + i; i > 0 && last-1 > f.highest {
		f.highest = last - 1
	}
	return out
}
