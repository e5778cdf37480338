package stats

import (
	"sync/atomic"
	"time"
)

// Kind is the media kind of a track.
type Kind uint8

// Media kinds.
const (
	KindAudio Kind = iota + 1
	KindVideo
)

func (k Kind) String() string {
	switch k {
	case KindAudio:
		return "audio"
	case KindVideo:
		return "video"
	}
	return "unknown"
}

// Layer is a simulcast layer as the subscriber sees it.
type Layer uint8

// Simulcast layers, from the quarter-resolution one up.
const (
	LayerNone Layer = iota
	LayerQ
	LayerH
	LayerF
	numLayers
)

// ParseLayer maps "q", "h" and "f" to their Layer; anything else is LayerNone.
func ParseLayer(s string) Layer {
	switch s {
	case "q":
		return LayerQ
	case "h":
		return LayerH
	case "f":
		return LayerF
	}
	return LayerNone
}

func (l Layer) String() string {
	return [...]string{"", "q", "h", "f"}[l]
}

// PacketInfo is what a subscriber bot knows about one received RTP packet.
// The bot fills it from the header and payload; no pointer into the packet
// buffer is kept, so the buffer can be reused at once.
type PacketInfo struct {
	SequenceNumber uint16
	Timestamp      uint32
	Marker         bool
	PayloadLen     int
	// CaptureTime is the sender's abs-capture-time; zero when absent.
	CaptureTime time.Time
	// Keyframe marks the first packet of a keyframe, whose resolution is
	// KeyframeWidth × KeyframeHeight (0 on any other packet).
	Keyframe       bool
	KeyframeWidth  int
	KeyframeHeight int
	// Layer is "q", "h" or "f" as derived from the keyframe resolution by
	// the caller, or "" when unknown. Only keyframes switch the layer.
	Layer string
}

// TrackStats accumulates the receive statistics of one track. It belongs to
// the goroutine that reads the track; only AddNACKs and AddPLI may be called
// from elsewhere (RTCP is often written by an interceptor goroutine).
type TrackStats struct {
	kind      Kind
	clockRate uint32
	start     time.Time

	win     seqWindow
	latency Histogram

	firstAt, lastAt time.Time
	bytes           uint64

	// RFC 3550 §6.4.1 jitter, in timestamp units.
	jitter      float64
	prevArrival time.Time
	prevTS      uint32
	haveTransit bool

	frames          uint64
	firstFrameAt    time.Time
	lastRenderedTS  uint32
	rendered        bool
	firstRenderedAt time.Time
	lastRenderedAt  time.Time
	freezes         FreezeDetector
	dec             decoder
	lostSeen        int64 // the window's lostUpTo already passed to the decoder

	layer       Layer
	layerSince  time.Time
	layerTime   [numLayers]time.Duration
	width       int
	height      int
	layerSwitch uint64
	topAt       time.Time // the first keyframe of the top layer (f)

	nacks atomic.Uint64
	plis  atomic.Uint64

	skewed  uint64        // packets that arrived before their capture time
	maxSkew time.Duration // the largest such lead
}

// Option configures a TrackStats.
type Option func(*TrackStats)

// WithStart sets the moment time to first frame is measured from,
// typically when the bot started joining.
func WithStart(t time.Time) Option {
	return func(s *TrackStats) { s.start = t }
}

// NewTrackStats returns statistics for a track of the given kind whose RTP
// clock runs at clockRate Hz (90000 for video, 48000 for Opus).
func NewTrackStats(kind Kind, clockRate uint32, opts ...Option) *TrackStats {
	if clockRate == 0 {
		// A zero rate would make jitter divide by zero; RTP video is 90 kHz.
		clockRate = 90000
	}
	s := &TrackStats{kind: kind, clockRate: clockRate, dec: decoder{waiting: true}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// SetStart sets the moment time to first frame is measured from. Without
// it, the first packet's arrival is used.
func (s *TrackStats) SetStart(t time.Time) { s.start = t }

// AddNACKs counts n sequence numbers the bot asked to be retransmitted.
// Safe for concurrent use.
func (s *TrackStats) AddNACKs(n int) { s.nacks.Add(uint64(n)) }

// AddPLI counts one Picture Loss Indication the bot sent.
// Safe for concurrent use.
func (s *TrackStats) AddPLI() { s.plis.Add(1) }

// Arrival is where OnPacket placed a packet in the stream, for a receiver
// that tracks what is missing (NACKs) beside the statistics.
type Arrival struct {
	Ext int64 // extended sequence number (consecutive across wrap-around)
	New bool  // a first copy in time: neither duplicate nor late
	Gap int64 // sequence numbers skipped just before it, now missing: [Ext-Gap, Ext)
}

// OnPacket records a packet that arrived at now. It does not allocate.
func (s *TrackStats) OnPacket(p PacketInfo, now time.Time) Arrival {
	prev, started := s.win.highest, s.win.started
	x, res := s.win.add(p.SequenceNumber, p.Timestamp, p.Marker, p.Keyframe, p.PayloadLen <= 0)
	if res != addNew {
		// A retransmission that lost the race, or one too late to help:
		// neither adds data, and their timing would distort jitter.
		return Arrival{Ext: x}
	}
	a := Arrival{Ext: x, New: true}
	if started && x > prev+1 {
		a.Gap = x - prev - 1
	}
	if s.firstAt.IsZero() {
		s.firstAt = now
		if s.start.IsZero() {
			s.start = now
		}
	}
	if now.After(s.lastAt) {
		s.lastAt = now
	}
	s.bytes += uint64(max(p.PayloadLen, 0))
	if !p.CaptureTime.IsZero() {
		if d := now.Sub(p.CaptureTime); d >= 0 {
			s.latency.Record(d)
		} else {
			// Arrival before capture: the sender's clock is ahead of
			// ours. That is clock skew to report, not a latency of 0.
			s.skewed++
			s.maxSkew = max(s.maxSkew, -d)
		}
	}
	s.updateJitter(p.Timestamp, now)
	s.updateLayer(p, now)

	if s.kind != KindVideo {
		// Every Opus packet is a frame on its own.
		s.onFrame(p.Timestamp, now)
		return a
	}
	if p.Keyframe && x > s.dec.key && (s.dec.waiting || x >= s.dec.next) {
		s.dec.key = x
	}
	if s.win.lostUpTo > s.lostSeen {
		// Packets left the window unrepaired.
		s.lostSeen = s.win.lostUpTo
		s.lose(s.lostSeen)
	}
	s.decode(now)
	return a
}

// GiveUp declares the packet with extended sequence number ext
// unrecoverable, as a receiver does when retransmission did not bring it
// in time: the decoder cannot pass its frame and waits for a keyframe.
func (s *TrackStats) GiveUp(ext int64) {
	if s.kind != KindVideo || s.win.has(ext) {
		return
	}
	s.lose(ext)
}

// NeedKeyframe reports whether the decoder waits for a keyframe that is
// not on its way: nothing was decoded yet, or a packet was lost for good,
// and no keyframe has begun arriving since. A receiver then sends a PLI.
func (s *TrackStats) NeedKeyframe() bool {
	return s.kind == KindVideo && s.win.started && s.dec.waiting && s.dec.key == 0
}

// Reception is what an RTCP receiver report block says about a track
// (RFC 3550 §6.4.1).
type Reception struct {
	HighestSeq         uint32 // extended highest sequence number received
	Expected, Received uint64
	Jitter             uint32 // interarrival jitter, RTP timestamp units
}

// Reception returns the receiver-report view of the track so far.
func (s *TrackStats) Reception() Reception {
	if !s.win.started {
		return Reception{}
	}
	return Reception{
		HighestSeq: uint32(max(s.win.highest-extBase, 0)),
		Expected:   s.win.expected(),
		Received:   s.win.received,
		Jitter:     uint32(s.jitter),
	}
}

func (s *TrackStats) onFrame(ts uint32, now time.Time) {
	s.frames++
	if s.firstFrameAt.IsZero() {
		s.firstFrameAt = now
	}
	// A decoder renders frames in timestamp order: a frame completed by a
	// late retransmission after a newer one was shown is never rendered.
	if s.rendered && int32(ts-s.lastRenderedTS) <= 0 {
		return
	}
	if !s.rendered {
		s.firstRenderedAt = now
	}
	s.rendered = true
	s.lastRenderedTS = ts
	s.lastRenderedAt = now
	if s.kind == KindVideo {
		s.freezes.OnFrame(now)
	}
}

func (s *TrackStats) updateJitter(ts uint32, now time.Time) {
	if !s.haveTransit {
		s.haveTransit = true
		s.prevArrival, s.prevTS = now, ts
		return
	}
	// D(i-1,i) = (R_i - R_{i-1}) - (S_i - S_{i-1}), in timestamp units;
	// the int32 difference keeps timestamp wrap-around harmless.
	arrival := float64(now.Sub(s.prevArrival)) * float64(s.clockRate) / float64(time.Second)
	d := arrival - float64(int32(ts-s.prevTS))
	if d < 0 {
		d = -d
	}
	s.jitter += (d - s.jitter) / 16
	s.prevArrival, s.prevTS = now, ts
}

func (s *TrackStats) updateLayer(p PacketInfo, now time.Time) {
	s.accrueLayer(now)
	if !p.Keyframe || p.KeyframeWidth == 0 {
		return
	}
	s.width, s.height = p.KeyframeWidth, p.KeyframeHeight
	if l := ParseLayer(p.Layer); l != LayerNone && l != s.layer {
		if s.layer != LayerNone {
			s.layerSwitch++
		}
		s.layer = l
		if l == LayerF && s.topAt.IsZero() {
			s.topAt = now
		}
	}
}

func (s *TrackStats) accrueLayer(now time.Time) {
	if !s.layerSince.IsZero() && now.After(s.layerSince) {
		s.layerTime[s.layer] += now.Sub(s.layerSince)
	}
	if now.After(s.layerSince) {
		s.layerSince = now
	}
}

// Finish declares every packet still missing lost and closes layer time at
// now. Packets arriving afterwards are counted as late and ignored.
func (s *TrackStats) Finish(now time.Time) {
	if s.win.started && !s.win.finished {
		s.accrueLayer(now)
	}
	s.win.finish()
}

// Snapshot returns a copy of the statistics so far. Before Finish, packets
// still inside the retransmission window are neither received nor lost.
func (s *TrackStats) Snapshot() Snapshot {
	snap := Snapshot{
		Kind:            s.kind,
		ClockRate:       s.clockRate,
		Latency:         s.latency,
		PacketsExpected: s.win.expected(),
		PacketsReceived: s.win.received,
		PacketsLost:     s.win.lost,
		Duplicates:      s.win.duplicate,
		Late:            s.win.late,
		Bytes:           s.bytes,
		FirstPacketAt:   s.firstAt,
		LastPacketAt:    s.lastAt,
		JitterMs:        s.jitter / float64(s.clockRate) * 1000,
		Frames:          s.frames,
		FirstFrameAt:    s.firstRenderedAt,
		LastFrameAt:     s.lastRenderedAt,
		FreezeCount:     s.freezes.Count(),
		FreezeDuration:  s.freezes.TotalDuration(),
		Layer:           s.layer,
		LayerSwitches:   s.layerSwitch,
		Width:           s.width,
		Height:          s.height,
		NACKsSent:       s.nacks.Load(),
		PLIsSent:        s.plis.Load(),
		ClockSkewed:     s.skewed,
		MaxClockSkew:    s.maxSkew,
		Finished:        s.win.finished,
	}
	snap.LayerTime = LayerTime{Q: s.layerTime[LayerQ], H: s.layerTime[LayerH], F: s.layerTime[LayerF]}
	if !s.firstFrameAt.IsZero() {
		snap.TimeToFirstFrame = s.firstFrameAt.Sub(s.start)
		if !s.topAt.IsZero() {
			snap.ReachedTop, snap.TimeToTop = true, max(0, s.topAt.Sub(s.firstFrameAt))
		}
	}
	return snap
}
