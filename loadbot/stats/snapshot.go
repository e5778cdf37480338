package stats

import "time"

// LayerTime is how long a track was received on each simulcast layer.
type LayerTime struct {
	Q, H, F time.Duration
}

// Total returns the time spent on any known layer.
func (l LayerTime) Total() time.Duration { return l.Q + l.H + l.F }

// Shares returns the fraction (0..1) of Total spent on each layer; all zero
// when no layer was ever known.
func (l LayerTime) Shares() (q, h, f float64) {
	t := float64(l.Total())
	if t == 0 {
		return 0, 0, 0
	}
	return float64(l.Q) / t, float64(l.H) / t, float64(l.F) / t
}

func (l *LayerTime) add(o LayerTime) {
	l.Q += o.Q
	l.H += o.H
	l.F += o.F
}

// Snapshot is a point-in-time copy of one track's statistics. It is a plain
// value: keep it, copy it, send it across goroutines.
type Snapshot struct {
	Kind      Kind
	ClockRate uint32

	// Latency holds one-way delays, capture (abs-capture-time) to arrival,
	// of packets that carried a capture time.
	Latency Histogram

	// PacketsExpected spans the first to the highest sequence number seen.
	// PacketsLost counts those that left the retransmission window (or
	// were open at Finish) without arriving; PacketsReceived counts unique
	// arrivals in time. Duplicates and Late (after being declared lost)
	// are counted apart and in no other field.
	PacketsExpected uint64
	PacketsReceived uint64
	PacketsLost     uint64
	Duplicates      uint64
	Late            uint64

	Bytes                       uint64 // payload bytes of unique packets
	FirstPacketAt, LastPacketAt time.Time

	JitterMs float64 // RFC 3550 interarrival jitter

	// Frames counts decoded frames (complete and decodable, see decoder;
	// audio: packets). FirstFrameAt and
	// LastFrameAt are the first and last rendered ones.
	Frames                    uint64
	FirstFrameAt, LastFrameAt time.Time
	// TimeToFirstFrame runs from the start (WithStart, SetStart or the
	// first packet) to the first decoded frame; 0 if none was.
	TimeToFirstFrame time.Duration
	// ReachedTop is true once a keyframe of the top simulcast layer (f)
	// arrived; TimeToTop runs from the first decoded frame to it (0 when
	// the first frame was already on f).
	ReachedTop bool
	TimeToTop  time.Duration

	FreezeCount    int
	FreezeDuration time.Duration

	LayerTime     LayerTime
	Layer         Layer // current layer
	LayerSwitches uint64
	Width, Height int // resolution of the last keyframe

	NACKsSent uint64
	PLIsSent  uint64

	// ClockSkewed counts packets that arrived before their capture time
	// (kept out of Latency); MaxClockSkew is the largest such lead: the
	// sender's clock ran at least that far ahead of the receiver's.
	ClockSkewed  uint64
	MaxClockSkew time.Duration

	Finished bool
}

// Duration returns the time between the first and last packet.
func (s *Snapshot) Duration() time.Duration {
	if s.FirstPacketAt.IsZero() {
		return 0
	}
	return s.LastPacketAt.Sub(s.FirstPacketAt)
}

// LossPct returns lost packets as a percentage of expected ones.
func (s *Snapshot) LossPct() float64 { return pct(s.PacketsLost, s.PacketsExpected) }

// BitrateKbps returns the payload bitrate between the first and last packet.
func (s *Snapshot) BitrateKbps() float64 { return kbps(s.Bytes, s.Duration()) }

// FrameRate returns rendered-span frames per second; 0 with under two frames.
func (s *Snapshot) FrameRate() float64 {
	d := s.LastFrameAt.Sub(s.FirstFrameAt)
	if s.Frames < 2 || d <= 0 {
		return 0
	}
	return float64(s.Frames-1) / d.Seconds()
}

func pct(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole) * 100
}

func kbps(bytes uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) * 8 / d.Seconds() / 1000
}
