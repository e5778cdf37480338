package stats

// windowSize is how many sequence numbers stay open for a retransmission to
// fill. 1024 packets is a few seconds of simulcast video, longer than any
// NACK round trip worth waiting for; older holes count as lost.
const windowSize = 1024

// extBase offsets extended sequence numbers so that 0 can mean "empty slot"
// and packets reordered ahead of the first one stay positive.
const extBase = 1 << 16

type slot struct {
	ext    int64 // extended sequence number held; 0 = never used
	ts     uint32
	marker bool
	key    bool // first packet of a keyframe
	filler bool // no payload (padding): belongs to no frame
}

type addResult uint8

const (
	addNew addResult = iota
	addDuplicate
	addLate // arrived after its sequence number was already declared lost
)

// seqWindow tracks which sequence numbers arrived, turning the wrapping
// 16-bit RTP sequence into a 64-bit one, and declares a number lost only
// once it leaves the window (or at finish), so a NACKed packet that comes
// back in time is not counted as loss.
type seqWindow struct {
	slots    [windowSize]slot
	started  bool
	finished bool
	first    int64
	highest  int64

	received  uint64
	duplicate uint64
	late      uint64
	lost      uint64
	// lostUpTo is the highest sequence number declared lost so far (0:
	// none); a decoder waiting on it must give up.
	lostUpTo int64
}

func (w *seqWindow) at(x int64) *slot { return &w.slots[x%windowSize] }

func (w *seqWindow) has(x int64) bool {
	return x >= w.first && x > w.highest-windowSize && x <= w.highest && w.at(x).ext == x
}

func (w *seqWindow) add(seq uint16, ts uint32, marker, key, filler bool) (int64, addResult) {
	var x int64
	if w.finished {
		w.late++
		return 0, addLate
	}
	if !w.started {
		w.started = true
		x = extBase + int64(seq)
		w.first, w.highest = x, x
	} else {
		x = w.highest + int64(int16(seq-uint16(w.highest)))
		switch {
		case x > w.highest:
			w.evictThrough(x - windowSize)
			w.highest = x
		case x <= w.highest-windowSize:
			w.late++
			return x, addLate
		case x < w.first:
			// Reordered ahead of the first packet: the stream simply
			// started earlier than we thought.
			w.first = x
		}
	}
	s := w.at(x)
	if s.ext == x {
		w.duplicate++
		return x, addDuplicate
	}
	*s = slot{ext: x, ts: ts, marker: marker, key: key, filler: filler}
	w.received++
	return x, addNew
}

// evictThrough declares lost every missing sequence number up to and
// including hi that is still inside the window.
func (w *seqWindow) evictThrough(hi int64) {
	lo := max(w.first, w.highest-windowSize+1)
	for s := lo; s <= min(hi, w.highest); s++ {
		if w.at(s).ext != s {
			w.lost++
			w.lostUpTo = s
		}
	}
	if hi > w.highest {
		// Numbers skipped by a jump wider than the window never had a slot.
		w.lost += uint64(hi - w.highest)
		w.lostUpTo = hi
	}
}

func (w *seqWindow) finish() {
	if w.started && !w.finished {
		w.evictThrough(w.highest)
	}
	// Nothing can arrive in time any more.
	w.finished = true
}

func (w *seqWindow) expected() uint64 {
	if !w.started {
		return 0
	}
	return uint64(w.highest - w.first + 1)
}

// frameEnd returns the marker packet of the frame that starts at start, if
// every packet from start through that marker is present.
func (w *seqWindow) frameEnd(start int64) (int64, bool) {
	if !w.has(start) {
		return 0, false
	}
	ts := w.at(start).ts
	for e := start; ; e++ {
		if !w.has(e) || w.at(e).ts != ts {
			return 0, false
		}
		if w.at(e).marker {
			return e, true
		}
	}
}
