package simulcast

// The munger state turns packets of several layers, each with its own
// sequence number, timestamp and picture ID space, into one stream.
//
// Output is a chain of segments. A segment is a run taken from one layer
// starting at a keyframe, and inside it every rewrite is a fixed offset from
// the input (sequence number, timestamp, TL0PICIDX) or a fixed mapping
// anchored at a reference (picture ID, whose input width may be 7 bits). That
// is what makes the guarantees cheap: a gap in the input stays a gap of the
// same size, a late packet lands in its own slot, and a NACK for any output
// sequence number, even one never sent, maps back to exactly one input packet
// and is rewritten exactly as it was (or would have been) the first time.

// historySize is how many output sequence numbers are remembered for
// duplicate detection and retransmission: about 5s of a 1.7 Mbps layer,
// longer than any NACK is worth answering.
const historySize = 1024

// segmentCount bounds how many past switches (and padding insertions)
// remain answerable for NACKs; more than historySize packets rarely span
// this many.
const segmentCount = 16

type segment struct {
	layer    int8
	startIn  uint16 // input seq of the keyframe that opened the segment
	highIn   uint16 // newest input seq forwarded
	highInTS uint32 // its input timestamp: the frame in flight
	startOut uint64 // extended output seq of startIn
	highOut  uint64 // extended output seq of highIn
	seqOff   uint16
	tsOff    uint32
	tl0Off   uint8
	// Picture IDs map by signed distance from a reference (the newest
	// packet), so 7-bit inputs keep counting in a 15-bit output.
	pidRefIn  uint16
	pidRefOut uint16
	// cont marks a continuation of the previous segment's run on the same
	// layer, opened to make room for padding: packets of the run that
	// arrive late still map through the previous segment.
	cont bool
}

// contains reports whether extended output seq ext belongs to g.
func (g *segment) contains(ext uint64) bool {
	return ext >= g.startOut && ext <= g.highOut
}

// mapPID maps an input picture ID of the given width onto the output.
func (g *segment) mapPID(in uint16, wide bool) uint16 {
	var delta int
	if wide {
		delta = int(int16((in-g.pidRefIn)<<1) >> 1)
	} else {
		delta = int(int8(uint8(in-g.pidRefIn)<<1) >> 1)
	}
	return uint16(int(g.pidRefOut)+delta) & 0x7fff
}

// sent is what was emitted for one output sequence number. 16 bytes: a
// subscriber holds historySize of them, and at a few hundred subscribers
// per server the ring is a visible part of each one's memory.
type sent struct {
	// tag is the ring generation of the extended output seq the slot
	// holds (ext/historySize + 1; 0: empty), which with the slot's index
	// names ext exactly for the next 2^42 packets.
	tag   uint32
	ts    uint32
	inSeq uint16
	pid   uint16
	tl0   uint8
	layer int8
}

// history is a ring of the last historySize outputs plus the segments they
// came from. Fixed size: no allocation after NewForwarder.
type history struct {
	slots [historySize]sent
	segs  [segmentCount]segment
	seg   int // index of the newest segment
	// nsegs counts segments ever opened, to tell empty entries apart.
	nsegs int
}

func (h *history) current() *segment { return &h.segs[h.seg] }

func (h *history) open() *segment {
	h.seg = (h.seg + 1) % segmentCount
	h.nsegs++
	g := &h.segs[h.seg]
	*g = segment{}
	return g
}

func (h *history) slot(ext uint64) *sent { return &h.slots[ext%historySize] }

func slotTag(ext uint64) uint32 { return uint32(ext/historySize) + 1 }

// holds reports whether s records extended output seq ext (s must be ext's
// slot).
func (s *sent) holds(ext uint64) bool { return s.tag == slotTag(ext) }

// wasSent reports whether ext was already emitted.
func (h *history) wasSent(ext uint64) bool {
	return ext != 0 && h.slot(ext).holds(ext)
}

// previous returns the segment before the i-th newest (0 = current), or nil.
func (h *history) previous(i int) *segment {
	if i+1 >= min(h.nsegs, segmentCount) {
		return nil
	}
	return &h.segs[(h.seg-i-1+segmentCount)%segmentCount]
}

// find returns the segment holding extended output seq ext, or nil.
func (h *history) find(ext uint64) *segment {
	n := h.nsegs
	if n > segmentCount {
		n = segmentCount
	}
	for i := 0; i < n; i++ {
		g := &h.segs[(h.seg-i+segmentCount)%segmentCount]
		if g.contains(ext) {
			return g
		}
		if ext > g.highOut {
			return nil // segments are in output order; ext falls after
		}
	}
	return nil
}

// extend turns a 16-bit output seq into the extended one, if it is within
// the history window behind high.
func extend(high uint64, seq uint16) (uint64, bool) {
	back := uint64(uint16(high) - seq)
	if back >= historySize || back > high {
		return 0, false
	}
	return high - back, true
}
