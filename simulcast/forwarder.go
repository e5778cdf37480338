package simulcast

import (
	"time"

	"github.com/pion/rtp"
)

// Verdict says what Accept did with a packet. Drops are typed so the caller
// can count them by reason (index an array with it).
type Verdict uint8

// Verdicts.
const (
	Forward          Verdict = iota // send Output
	DropNotTarget                   // another layer than the one forwarded
	DropPaused                      // the track is paused
	DropWaitKeyframe                // target layer, but its keyframe has not started yet
	DropTooOld                      // late beyond the history, or before the current switch
	DropDuplicate                   // that output slot was already sent
	DropInvalid                     // the payload cannot be rewritten into dst
	NumVerdicts
)

var verdictNames = [NumVerdicts]string{"forward", "not_target", "paused", "wait_keyframe", "too_old", "duplicate", "invalid"}

func (v Verdict) String() string {
	if v < NumVerdicts {
		return verdictNames[v]
	}
	return "unknown"
}

// Output is the rewritten packet: the caller sends Payload with these header
// fields, its own SSRC and payload type, and the input's header extensions.
type Output struct {
	SequenceNumber uint16
	Timestamp      uint32
	Marker         bool
	// Payload is the input payload when no rewrite was needed, else a
	// prefix of dst. Either way it is only valid until the next call.
	Payload []byte

	// Switched is set on the first packet of a new layer (From = -1 on the
	// first packet ever and on resume); SwitchDelay is the time since the
	// SetTarget that asked for it.
	Switched    bool
	From, To    int
	SwitchDelay time.Duration
}

// Forwarder rewrites the packets of one DownTrack: it picks the packets of
// the layer being forwarded, switches layers at switch points (keyframes),
// and makes the result look like one continuous stream (sequence numbers,
// timestamps and picture IDs). It decides from each packet's Meta, parsed
// once by the caller, and rewrites payloads through its Codec. It belongs
// to the goroutine that forwards the track's packets; it has no locks and
// Accept does not allocate.
type Forwarder struct {
	cfg       Config
	clockRate uint32
	codec     Codec
	layered   bool // codec.Layered(), asked once: layers, keyframe requests, padding

	current, target int
	targetAt        time.Time
	pausing         bool // pause at the end of the frame in flight
	// draining stops the current layer at the end of its frame in flight
	// while a switch down waits for its keyframe (Drain).
	draining bool

	started  bool   // something was forwarded
	highOut  uint64 // extended output seq of the newest packet sent
	lastTS   uint32 // newest output timestamp ...
	lastTSAt time.Time
	lastMark bool // ... and whether the newest packet ended its frame
	lastPID  uint16
	hasPID   bool
	lastTL0  uint8
	hasTL0   bool

	kfAt    time.Time
	kfAsked bool      // a keyframe was requested for the current target
	kfNext  time.Time // non-zero: the last request was held back; ask again from then
	// keyStart is the extended output seq of the keyframe that opened
	// the current layer's run.
	keyStart uint64

	hist history
}

// NewForwarder returns a paused Forwarder for a track of codec. clockRate
// is the codec's RTP clock (90000 for video). A layered codec (VP8) waits
// for a target layer and switches at keyframes; any other (audio, H.264)
// has the single layer 0 and forwards from the first packet.
func NewForwarder(cfg Config, clockRate uint32, codec Codec) *Forwarder {
	f := &Forwarder{cfg: cfg, clockRate: clockRate, codec: codec, layered: codec.Layered(), current: LayerPaused, target: LayerPaused}
	if !f.layered {
		f.target = 0
	}
	return f
}

// CurrentLayer is the layer being forwarded, -1 when paused.
func (f *Forwarder) CurrentLayer() int { return f.current }

// TargetLayer is the layer the Forwarder is switching to (or forwarding).
func (f *Forwarder) TargetLayer() int { return f.target }

// SetTarget asks for layer (-1 pauses). The current layer keeps flowing until
// the target's next keyframe starts; a pause takes effect at the end of the
// frame in flight.
func (f *Forwarder) SetTarget(layer int, now time.Time) {
	layer = clampCap(layer)
	if !f.layered && layer > 0 {
		layer = 0
	}
	if layer == f.target {
		return
	}
	f.target, f.targetAt, f.kfAsked, f.kfNext = layer, now, false, time.Time{}
	f.pausing, f.draining = false, false
	if layer == LayerPaused && f.current >= 0 {
		if f.lastMark || !f.started {
			f.current = LayerPaused
		} else {
			f.pausing = true
		}
	}
}

// Drain stops the current layer at the end of its frame in flight, until
// the lower target SetTarget set starts at its keyframe. A link that
// carries far less than the current layer only queues what is sent of it,
// in front of that keyframe, and every packet lengthens the freeze. For
// congestion only: a switch down for any other reason keeps the current
// layer flowing, so the picture never stops. The drain ends with the
// switch or with the next SetTarget.
func (f *Forwarder) Drain() {
	if f.started && f.target >= 0 && f.current > f.target {
		f.draining = true
	}
}

// KeyframeRequest returns the layer to send a PLI for while a switch waits
// for its keyframe: at once (unless another request went out less than
// KeyframeThrottle ago), then every KeyframeRetry until it arrives.
func (f *Forwarder) KeyframeRequest(now time.Time) (layer int, ok bool) {
	if !f.layered || f.target < 0 || f.target == f.current {
		return LayerPaused, false
	}
	if !f.kfNext.IsZero() {
		if now.Before(f.kfNext) {
			return LayerPaused, false
		}
		f.kfNext = time.Time{}
		f.kfAt, f.kfAsked = now, true
		return f.target, true
	}
	wait := f.cfg.KeyframeThrottle
	if f.kfAsked && f.cfg.KeyframeRetry > wait {
		wait = f.cfg.KeyframeRetry
	}
	if !f.kfAt.IsZero() && now.Sub(f.kfAt) < wait {
		return LayerPaused, false
	}
	f.kfAt, f.kfAsked = now, true
	return f.target, true
}

// BeforeSwitch reports whether outSeq was sent before the keyframe that
// opened the current layer's run (a switch, start or resume): the
// subscriber's decoder restarts there, so the packet is not worth a resend.
func (f *Forwarder) BeforeSwitch(outSeq uint16) bool {
	ext, ok := extend(f.highOut, outSeq)
	return ok && f.started && ext < f.keyStart
}

// KeyframeNotBefore says the request KeyframeRequest just returned did not
// go out, and would at t: the first call from t asks again, rather than
// one KeyframeRetry later.
func (f *Forwarder) KeyframeNotBefore(t time.Time) { f.kfNext = t }

// Accept decides about one incoming packet of layer, described by m (the
// codec's Parse of it). hdr, payload and m are only read (other DownTracks
// share them); a rewritten payload goes into dst, which should hold 1500
// bytes.
func (f *Forwarder) Accept(layer int, hdr *rtp.Header, payload []byte, m *Meta, now time.Time, dst []byte) (out Output, v Verdict) {
	if layer == f.target && f.target != f.current && f.target >= 0 {
		if !m.SwitchPoint {
			if f.current < 0 {
				return out, DropWaitKeyframe
			}
		} else {
			out.Switched, out.From, out.To, out.SwitchDelay = true, f.current, layer, now.Sub(f.targetAt)
			f.open(layer, hdr, m, now)
		}
	}
	if f.current < 0 {
		if layer == f.target {
			return Output{}, DropWaitKeyframe
		}
		if f.target >= 0 {
			return Output{}, DropNotTarget
		}
		return Output{}, DropPaused
	}
	if layer != f.current {
		if layer == f.target {
			return Output{}, DropWaitKeyframe
		}
		return Output{}, DropNotTarget
	}

	g := f.hist.current()
	diff := int16(hdr.SequenceNumber - g.highIn)
	newest := diff > 0 || out.Switched
	if !out.Switched {
		if f.pausing && diff > 0 && (f.lastMark || hdr.Timestamp != g.highInTS) {
			f.pausing, f.current = false, LayerPaused
			return Output{}, DropPaused
		}
		// Nothing newer is forwarded once draining, so lastMark and
		// highInTS stay those of the frame in flight.
		if f.draining && diff > 0 && (f.lastMark || hdr.Timestamp != g.highInTS) {
			return Output{}, DropNotTarget
		}
		// A late packet from before a padding insertion maps through the
		// segment its run was in.
		for i := 0; !newest && g.cont && int16(hdr.SequenceNumber-g.startIn) < 0; i++ {
			prev := f.hist.previous(i)
			if prev == nil || prev.layer != g.layer {
				break
			}
			g = prev
			diff = int16(hdr.SequenceNumber - g.highIn)
		}
		if diff <= 0 && (int16(hdr.SequenceNumber-g.startIn) < 0 || -int(diff) >= historySize) {
			return Output{}, DropTooOld
		}
	}
	ext := uint64(int64(g.highOut) + int64(diff))
	if !newest && f.hist.wasSent(ext) {
		return Output{}, DropDuplicate
	}

	out.SequenceNumber = hdr.SequenceNumber + g.seqOff
	out.Timestamp = hdr.Timestamp + g.tsOff
	out.Marker = hdr.Marker
	out.Payload = payload
	pid, tl0 := f.numbering(g, m)
	if !m.Padding {
		p, err := f.codec.Rewrite(dst, payload, m, pid, tl0)
		if err != nil {
			return Output{}, DropInvalid
		}
		out.Payload = p
	}

	s := f.hist.slot(ext)
	*s = sent{tag: slotTag(ext), ts: out.Timestamp, inSeq: hdr.SequenceNumber, pid: pid, tl0: tl0, layer: int8(layer)}
	if newest {
		g.highIn, g.highInTS, g.highOut = hdr.SequenceNumber, hdr.Timestamp, ext
		f.highOut, f.lastMark, f.started = ext, hdr.Marker, true
		if int32(out.Timestamp-f.lastTS) > 0 || out.Switched {
			f.lastTS, f.lastTSAt = out.Timestamp, now
		}
		if m.HasPictureID {
			g.pidRefIn, g.pidRefOut = m.PictureID, pid
			f.lastPID, f.hasPID = pid, true
		}
		if m.HasTL0PICIDX {
			f.lastTL0, f.hasTL0 = tl0, true
		}
		if f.pausing && hdr.Marker {
			f.pausing, f.current = false, LayerPaused
		}
	}
	return out, Forward
}

// Padding reserves n output sequence numbers for padding-only packets
// (bandwidth probes) sent right after the newest packet, and returns the
// first of them and the timestamp they carry (the newest frame's). It
// refuses unless the newest packet ended its frame, so padding never splits
// a frame. Media after it shifts by n: a continuation segment starts there.
// A paused stream takes padding too (its last frame ended): a subscriber
// paused for bandwidth can only get video back by proving the link again.
func (f *Forwarder) Padding(n int) (first uint16, ts uint32, ok bool) {
	if !f.layered || !f.started || f.pausing || f.draining || !f.lastMark || n <= 0 || n >= historySize/2 {
		return 0, 0, false
	}
	g := *f.hist.current()
	first = uint16(f.highOut + 1)
	f.highOut += uint64(n)
	next := f.hist.open()
	*next = g
	next.cont = true
	next.startIn = g.highIn + 1
	next.startOut = f.highOut + 1
	next.highOut = f.highOut
	next.seqOff = uint16(next.startOut) - next.startIn
	return first, f.lastTS, true
}

// open starts a segment on layer at the switch point in hdr, continuing the
// output where the previous segment left off.
func (f *Forwarder) open(layer int, hdr *rtp.Header, m *Meta, now time.Time) {
	g := f.hist.open()
	g.layer = int8(layer)
	g.startIn, g.highIn, g.highInTS = hdr.SequenceNumber, hdr.SequenceNumber, hdr.Timestamp
	if f.started {
		g.startOut = f.highOut + 1
		g.seqOff = uint16(g.startOut) - hdr.SequenceNumber
		// The decoder sees one clock: advance by the wall time since the
		// newest frame was sent, and at least one tick so the new
		// keyframe is never taken for part of the previous frame.
		step := uint32(1)
		if el := now.Sub(f.lastTSAt); el > 0 {
			if el > time.Hour {
				el = time.Hour
			}
			if s := uint32(uint64(el) * uint64(f.clockRate) / uint64(time.Second)); s > step {
				step = s
			}
		}
		g.tsOff = f.lastTS + step - hdr.Timestamp
	} else {
		// First segment: keep the input's numbering so an unswitched
		// stream needs no payload rewrite. Start high enough that
		// extended arithmetic never goes below zero.
		g.startOut = 1<<32 + uint64(hdr.SequenceNumber)
	}
	g.highOut = g.startOut - 1 // Accept moves it onto the keyframe
	f.keyStart = g.startOut
	g.highIn = hdr.SequenceNumber - 1
	if m.HasPictureID {
		g.pidRefIn, g.pidRefOut = m.PictureID, m.PictureID
		if f.hasPID {
			g.pidRefOut = (f.lastPID + 1) & 0x7fff
		}
	}
	if m.HasTL0PICIDX && f.hasTL0 {
		g.tl0Off = f.lastTL0 + 1 - m.TL0PICIDX
	}
	f.current, f.pausing, f.draining = layer, false, false
}

// numbering is the picture ID and TL0PICIDX to send for m in segment g
// (zero for fields m does not carry).
func (f *Forwarder) numbering(g *segment, m *Meta) (pid uint16, tl0 uint8) {
	if m.HasPictureID {
		pid = g.mapPID(m.PictureID, m.PictureIDBits == 15)
	}
	if m.HasTL0PICIDX {
		tl0 = m.TL0PICIDX + g.tl0Off
	}
	return pid, tl0
}

// Retransmission maps an output sequence number from a NACK to the input
// packet it was (or, for a gap in the input, would have been) so the caller
// can fetch it from the packet cache.
func (f *Forwarder) Retransmission(outSeq uint16) (layer int, inSeq uint16, ok bool) {
	ext, ok := extend(f.highOut, outSeq)
	if !ok || !f.started {
		return LayerPaused, 0, false
	}
	if s := f.hist.slot(ext); s.holds(ext) {
		return int(s.layer), s.inSeq, true
	}
	g := f.hist.find(ext)
	if g == nil {
		return LayerPaused, 0, false
	}
	return int(g.layer), outSeq - g.seqOff, true
}

// RewriteRetransmission rewrites the cached input packet (hdr, payload,
// described by m) for outSeq exactly as it was sent the first time. It
// reports false when outSeq is unknown or hdr is not the packet
// Retransmission named.
func (f *Forwarder) RewriteRetransmission(outSeq uint16, hdr *rtp.Header, payload []byte, m *Meta, dst []byte) (Output, bool) {
	ext, ok := extend(f.highOut, outSeq)
	if !ok || !f.started {
		return Output{}, false
	}
	s := f.hist.slot(ext)
	if !s.holds(ext) {
		// A gap: never sent, so its rewrite follows from its segment.
		// Remember it, so the next NACK for it gets the same bytes even
		// after the picture ID reference has moved on.
		g := f.hist.find(ext)
		if g == nil || hdr.SequenceNumber != outSeq-g.seqOff {
			return Output{}, false
		}
		pid, tl0 := f.numbering(g, m)
		*s = sent{tag: slotTag(ext), ts: hdr.Timestamp + g.tsOff, inSeq: hdr.SequenceNumber, pid: pid, tl0: tl0, layer: g.layer}
	} else if s.inSeq != hdr.SequenceNumber {
		return Output{}, false
	}
	out := Output{SequenceNumber: outSeq, Timestamp: s.ts, Marker: hdr.Marker, Payload: payload}
	if !m.Padding {
		p, err := f.codec.Rewrite(dst, payload, m, s.pid, s.tl0)
		if err != nil {
			return Output{}, false
		}
		out.Payload = p
	}
	return out, true
}
