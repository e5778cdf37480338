package sfu

import (
	"encoding/binary"
	"math"
	"math/rand"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
)

// twccFeedback is the publish side's transport-wide congestion control
// feedback (what a publisher's own estimator runs on), in place of Pion's
// twcc.SenderInterceptor. Pion's hands every packet to its loop over an
// unbuffered channel, allocates once per packet in Record and some fifty
// times per feedback it builds (~650 allocations a second for one
// simulcast publisher); this one records under a lock into a fixed ring
// and encodes the feedback into a reused buffer (appendTWCCFeedback).
type twccFeedback struct {
	interceptor.NoOp
	rec   twccRecorder
	epoch time.Time
	close chan struct{}
	done  chan struct{}
	once  sync.Once
	start sync.Once
}

type twccFeedbackFactory struct{}

func (twccFeedbackFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	t := &twccFeedback{epoch: time.Now(), close: make(chan struct{}), done: make(chan struct{})}
	t.rec.senderSSRC = rand.Uint32() // #nosec: an identifier, not a secret
	return t, nil
}

// twccInterval is how often feedback goes to a publisher: Pion's and
// libwebrtc's default.
const twccInterval = 100 * time.Millisecond

func (t *twccFeedback) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	t.start.Do(func() { go t.loop(w) })
	return w
}

func (t *twccFeedback) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI {
			id = uint8(e.ID)
		}
	}
	if id == 0 {
		return reader
	}
	ssrc := info.SSRC
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err != nil {
			return n, a, err
		}
		if a == nil {
			a = make(interceptor.Attributes) // headerReuse, innermost, always passes one
		}
		h, err := a.GetRTPHeader(b[:n])
		if err != nil {
			return 0, nil, err
		}
		if e := h.GetExtension(id); len(e) >= 2 {
			t.rec.record(ssrc, binary.BigEndian.Uint16(e), time.Since(t.epoch).Microseconds())
		}
		return n, a, nil
	})
}

func (t *twccFeedback) Close() error {
	t.once.Do(func() { close(t.close) })
	// No loop runs when no RTCP writer was ever bound.
	started := true
	t.start.Do(func() { started = false })
	if started {
		<-t.done
	}
	return nil
}

func (t *twccFeedback) loop(w interceptor.RTCPWriter) {
	defer close(t.done)
	tick := time.NewTicker(twccInterval)
	defer tick.Stop()
	var (
		raw rtcp.RawPacket
		pkt [1]rtcp.Packet
	)
	pkt[0] = &raw
	for {
		select {
		case <-t.close:
			return
		case <-tick.C:
		}
		for {
			var more bool
			raw, more = t.rec.build(raw[:0])
			if len(raw) == 0 {
				break
			}
			if _, err := w.Write(pkt[:], nil); err != nil {
				break // closed, or the transport is gone; the next tick tries again
			}
			if !more {
				break
			}
		}
	}
}

// twccRing is how many sequence numbers a recorder remembers: a second at
// 4,000 packets a second, ten feedback intervals at 40,000.
const twccRing = 4096

// twccRecorder holds the arrival times of one PeerConnection's
// transport-wide sequence numbers until they are reported.
type twccRecorder struct {
	mu         sync.Mutex
	senderSSRC uint32
	mediaSSRC  uint32
	fbCount    uint8
	started    bool
	last       uint16 // last sequence number seen, for unwrapping
	ext        int64  // its unwrapped value
	start, end int64  // [start, end): not yet reported; end is one past the highest seen
	arrival    [twccRing]int64
	scratch    [twccRing]int64
}

// record notes that sequence number seq (of a packet on ssrc) arrived at
// arrivalUS, microseconds on the recorder's clock.
func (r *twccRecorder) record(ssrc uint32, seq uint16, arrivalUS int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mediaSSRC = ssrc
	if !r.started {
		r.started = true
		r.last, r.ext = seq, int64(seq)
		r.start, r.end = r.ext, r.ext
	}
	ext := r.ext + int64(int16(seq-r.last))
	if ext > r.ext {
		r.last, r.ext = seq, ext
	}
	switch {
	case ext >= r.end:
		for s := max(r.end, ext-twccRing+1); s <= ext; s++ {
			r.arrival[s&(twccRing-1)] = 0
		}
		r.end = ext + 1
		r.start = max(r.start, r.end-twccRing)
	case ext < r.end-twccRing:
		return // older than anything remembered
	}
	// A packet that arrives after the feedback that reported it lost is
	// reported again, with the ones after it, as Pion and libwebrtc do;
	// not from further back than a feedback's worth, whatever the peer sends.
	if ext < r.start && r.start-ext <= twccMaxReport {
		r.start = ext
	}
	if r.arrival[ext&(twccRing-1)] == 0 {
		r.arrival[ext&(twccRing-1)] = arrivalUS + 1
	}
}

// build appends the next feedback packet to dst; more says another one is
// due at once (more was unreported than one packet carries). It returns
// dst unchanged when nothing is to be reported.
func (r *twccRecorder) build(dst []byte) (out []byte, more bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start >= r.end {
		return dst, false
	}
	arr := r.scratch[:r.end-r.start]
	for i := range arr {
		arr[i] = r.arrival[(r.start+int64(i))&(twccRing-1)] - 1
	}
	for len(arr) > 0 {
		out, n := appendTWCCFeedback(dst, r.senderSSRC, r.mediaSSRC, r.fbCount, uint16(r.start), arr)
		r.start += int64(n)
		arr = arr[n:]
		if len(out) > len(dst) {
			r.fbCount++
			return out, r.start < r.end
		}
	}
	return dst, false
}

// Limits of one feedback packet: at most 1,178 bytes, well under an MTU.
const (
	twccMaxStatuses   = 900
	twccMaxDeltaBytes = 900
	twccMaxReport     = 256 // how far back a late packet reopens the report
)

// appendTWCCFeedback appends a transport-wide feedback packet
// (draft-holmer-rmcat-transport-wide-cc-extensions-01) for sequence numbers
// base, base+1, ...: arrivals[i] is when base+i arrived, in microseconds,
// or negative for not received. It covers as many as fit and returns how
// many that was; packets that report nothing (no arrival among them) are
// skipped without output. Chunks are two-bit status vectors throughout,
// which every receiver parses; deltas are in 250 µs ticks, accumulated so
// that quantization never drifts.
func appendTWCCFeedback(dst []byte, senderSSRC, mediaSSRC uint32, fbCount uint8, base uint16, arrivals []int64) ([]byte, int) {
	first := -1
	for i, a := range arrivals {
		if a >= 0 {
			first = i
			break
		}
	}
	if first < 0 {
		return dst, len(arrivals)
	}
	ref := arrivals[first] / 64000
	// First pass: how many statuses, and how many delta bytes, fit.
	n, deltaBytes := 0, 0
	last := ref * 64000
	for n < len(arrivals) && n < twccMaxStatuses {
		if a := arrivals[n]; a >= 0 {
			d := divRound(a-last, 250)
			if d < math.MinInt16 || d > math.MaxInt16 {
				break
			}
			size := 1
			if d < 0 || d > 255 {
				size = 2
			}
			if deltaBytes+size > twccMaxDeltaBytes {
				break
			}
			deltaBytes += size
			last += d * 250
		}
		n++
	}
	chunks := (n + 6) / 7
	size := 20 + 2*chunks + deltaBytes
	pad := (4 - size%4) % 4
	size += pad
	start := len(dst)
	dst = append(dst, make([]byte, size)...)
	p := dst[start:]
	p[0] = 0x80 | 15 // V=2, FMT=15
	if pad > 0 {
		p[0] |= 0x20
		p[size-1] = byte(pad)
	}
	p[1] = 205
	binary.BigEndian.PutUint16(p[2:], uint16(size/4-1))
	binary.BigEndian.PutUint32(p[4:], senderSSRC)
	binary.BigEndian.PutUint32(p[8:], mediaSSRC)
	binary.BigEndian.PutUint16(p[12:], base)
	binary.BigEndian.PutUint16(p[14:], uint16(n))
	binary.BigEndian.PutUint32(p[16:], uint32(ref)<<8|uint32(fbCount))
	deltas := p[20+2*chunks:]
	last = ref * 64000
	for i := 0; i < n; i++ {
		sym := uint16(0)
		if a := arrivals[i]; a >= 0 {
			d := divRound(a-last, 250)
			last += d * 250
			if d >= 0 && d <= 255 {
				sym = 1
				deltas[0] = byte(d)
				deltas = deltas[1:]
			} else {
				sym = 2
				binary.BigEndian.PutUint16(deltas, uint16(int16(d)))
				deltas = deltas[2:]
			}
		}
		c := p[20+2*(i/7):]
		v := binary.BigEndian.Uint16(c) | 0xC000 // status vector, two-bit symbols
		v |= sym << (2 * (6 - i%7))
		binary.BigEndian.PutUint16(c, v)
	}
	return dst, n
}

// divRound is x/y rounded to the nearest integer, halves away from zero.
func divRound(x, y int64) int64 {
	if x >= 0 {
		return (x + y/2) / y
	}
	return -((-x + y/2) / y)
}
