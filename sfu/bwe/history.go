package bwe

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// historySize is the number of sent packets remembered for feedback: a
// second at 2,000 packets/s (about bwe.max_bitrate's 20 Mbit/s), more than
// feedback takes to come back (an RTT plus the receiver's 50-250 ms
// interval), and 10 s at the 200 packets/s of one 1.7 Mbit/s layer. Every
// subscriber holds one, so it is not made larger than that.
const historySize = 2048

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
	deltas := fb.RecvDeltas
	delta := func() (time.Duration, bool) {
		if len(deltas) == 0 {
			return 0, false
		}
		d := deltas[0].Delta
		deltas = deltas[1:]
		return time.Duration(d) * time.Microsecond, true
	}
	w := f.begin(fb.BaseSequenceNumber, fb.ReferenceTime, now)
	count := uint64(fb.PacketStatusCount)
	for _, c := range fb.PacketChunks {
		if w.i >= count {
			break
		}
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for n := uint16(0); n < c.RunLength && w.i < count; n++ {
				out = f.emit(&w, c.PacketStatusSymbol, delta, out)
			}
		case *rtcp.StatusVectorChunk:
			for _, s := range c.SymbolList {
				if w.i >= count {
					break
				}
				out = f.emit(&w, s, delta, out)
			}
		}
	}
	f.end(&w)
	return out
}

// ResultsRaw is Results for a TWCC feedback packet as it arrived (RTCP
// header included, RFC draft-holmer-rmcat-transport-wide-cc-extensions-01
// §3.1), parsed without allocating: the SFU reads every subscriber's
// feedback, several times a second each.
func (f *Feedback) ResultsRaw(p []byte, now time.Time, out []PacketResult) []PacketResult {
	if len(p) < 20 {
		return out
	}
	base := binary.BigEndian.Uint16(p[12:])
	count := uint64(binary.BigEndian.Uint16(p[14:]))
	ref := uint32(p[16])<<16 | uint32(p[17])<<8 | uint32(p[18])
	chunks := p[20:]
	// The deltas follow the chunks that cover count statuses.
	n, nchunks := uint64(0), 0
	for n < count && 2*(nchunks+1) <= len(chunks) {
		c := binary.BigEndian.Uint16(chunks[2*nchunks:])
		nchunks++
		n += chunkLen(c)
	}
	deltas := chunks[2*nchunks:]
	var symbol uint16
	delta := func() (time.Duration, bool) {
		if symbol == rtcp.TypeTCCPacketReceivedSmallDelta {
			if len(deltas) < 1 {
				return 0, false
			}
			d := time.Duration(deltas[0]) * 250 * time.Microsecond
			deltas = deltas[1:]
			return d, true
		}
		if len(deltas) < 2 {
			return 0, false
		}
		d := time.Duration(int16(binary.BigEndian.Uint16(deltas))) * 250 * time.Microsecond
		deltas = deltas[2:]
		return d, true
	}
	w := f.begin(base, ref, now)
	for k := 0; k < nchunks && w.i < count; k++ {
		c := binary.BigEndian.Uint16(chunks[2*k:])
		switch {
		case c&0x8000 == 0: // run length: S in bits 14-13, length in 12-0
			symbol = c >> 13 & 3
			for r := uint16(0); r < c&0x1fff && w.i < count; r++ {
				out = f.emit(&w, symbol, delta, out)
			}
		case c&0x4000 == 0: // 14 one-bit symbols
			for b := 13; b >= 0 && w.i < count; b-- {
				symbol = c >> b & 1
				out = f.emit(&w, symbol, delta, out)
			}
		default: // 7 two-bit symbols
			for b := 12; b >= 0 && w.i < count; b -= 2 {
				symbol = c >> b & 3
				out = f.emit(&w, symbol, delta, out)
			}
		}
	}
	f.end(&w)
	return out
}

// chunkLen is how many statuses a packet status chunk holds.
func chunkLen(c uint16) uint64 {
	switch {
	case c&0x8000 == 0:
		return uint64(c & 0x1fff)
	case c&0x4000 == 0:
		return 14
	default:
		return 7
	}
}

// walk is the state of one feedback packet being read.
type walk struct {
	base    uint64
	i       uint64
	arrival time.Duration
	nowOff  time.Duration
}

func (f *Feedback) begin(base16 uint16, refTime uint32, now time.Time) walk {
	ref := int64(refTime & 0xffffff)
	if f.started {
		// 24-bit reference time: take the unwrapped value nearest the last.
		d := (ref - f.lastRef%(1<<24) + 1<<23) & (1<<24 - 1)
		ref = f.lastRef + d - 1<<23
	}
	f.started, f.lastRef = true, ref
	return walk{
		base:    f.h.unwrap(base16),
		arrival: time.Duration(ref) * 64 * time.Millisecond,
		nowOff:  now.Sub(f.h.epoch),
	}
}

// emit reads one status (and its delta, for a received packet) and appends
// its result unless the packet was reported before or is unknown.
func (f *Feedback) emit(w *walk, symbol uint16, delta func() (time.Duration, bool), out []PacketResult) []PacketResult {
	seq := w.base + w.i
	w.i++
	received := symbol == rtcp.TypeTCCPacketReceivedSmallDelta || symbol == rtcp.TypeTCCPacketReceivedLargeDelta
	if received {
		d, ok := delta()
		if !ok {
			return out // malformed: fewer deltas than received packets
		}
		w.arrival += d
	}
	if seq <= f.highest && f.highest != 0 {
		return out
	}
	size, probe, sent, ok := f.h.lookup(seq, w.nowOff)
	if !ok {
		return out
	}
	return append(out, PacketResult{Seq: seq, Size: size, Probe: probe, SendTime: sent, Arrival: w.arrival, Received: received})
}

func (f *Feedback) end(w *walk) {
	if last := w.base + w.i; w.i > 0 && last-1 > f.highest {
		f.highest = last - 1
	}
}
