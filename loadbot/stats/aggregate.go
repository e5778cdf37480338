package stats

import "time"

// Aggregate sums snapshots of many tracks (a bot, a room, a whole run) so
// the report can state one number for each. Counters add up; latency
// histograms merge exactly; jitter, which does not add, is averaged over
// tracks. The zero value is empty and ready to use.
type Aggregate struct {
	Tracks      int
	VideoTracks int

	Latency Histogram

	PacketsExpected uint64
	PacketsReceived uint64
	PacketsLost     uint64

	Bytes uint64
	// MediaTime sums each track's first-to-last packet span; bitrate is
	// Bytes over it, i.e. the mean per-track bitrate.
	MediaTime time.Duration
	// VideoTime is MediaTime over video tracks only, the base for
	// freezes per minute.
	VideoTime time.Duration

	jitterSum    float64
	jitterTracks int

	Frames         uint64
	FreezeCount    int
	FreezeDuration time.Duration
	LayerTime      LayerTime

	NACKsSent uint64
	PLIsSent  uint64

	ClockSkewed  uint64
	MaxClockSkew time.Duration
}

// Add folds one track snapshot in.
func (a *Aggregate) Add(s *Snapshot) {
	a.Tracks++
	a.Latency.Merge(&s.Latency)
	a.PacketsExpected += s.PacketsExpected
	a.PacketsReceived += s.PacketsReceived
	a.PacketsLost += s.PacketsLost
	a.Bytes += s.Bytes
	d := s.Duration()
	a.MediaTime += d
	if s.Kind == KindVideo {
		a.VideoTracks++
		a.VideoTime += d
	}
	if s.PacketsReceived > 1 {
		// A track with one packet has no jitter estimate, not a zero one.
		a.jitterSum += s.JitterMs
		a.jitterTracks++
	}
	a.Frames += s.Frames
	a.FreezeCount += s.FreezeCount
	a.FreezeDuration += s.FreezeDuration
	a.LayerTime.add(s.LayerTime)
	a.NACKsSent += s.NACKsSent
	a.PLIsSent += s.PLIsSent
	a.ClockSkewed += s.ClockSkewed
	a.MaxClockSkew = max(a.MaxClockSkew, s.MaxClockSkew)
}

// Merge folds another aggregate in.
func (a *Aggregate) Merge(o *Aggregate) {
	a.Tracks += o.Tracks
	a.VideoTracks += o.VideoTracks
	a.Latency.Merge(&o.Latency)
	a.PacketsExpected += o.PacketsExpected
	a.PacketsReceived += o.PacketsReceived
	a.PacketsLost += o.PacketsLost
	a.Bytes += o.Bytes
	a.MediaTime += o.MediaTime
	a.VideoTime += o.VideoTime
	a.jitterSum += o.jitterSum
	a.jitterTracks += o.jitterTracks
	a.Frames += o.Frames
	a.FreezeCount += o.FreezeCount
	a.FreezeDuration += o.FreezeDuration
	a.LayerTime.add(o.LayerTime)
	a.NACKsSent += o.NACKsSent
	a.PLIsSent += o.PLIsSent
	a.ClockSkewed += o.ClockSkewed
	a.MaxClockSkew = max(a.MaxClockSkew, o.MaxClockSkew)
}

// Sub returns what happened since prev, an earlier aggregate of the same
// tracks: the runner's per-interval timeline point. Jitter is taken from
// a as is, since a running average has no difference.
func (a *Aggregate) Sub(prev *Aggregate) Aggregate {
	out := *a
	out.Latency = a.Latency.Sub(&prev.Latency)
	out.PacketsExpected = sat(a.PacketsExpected, prev.PacketsExpected)
	out.PacketsReceived = sat(a.PacketsReceived, prev.PacketsReceived)
	out.PacketsLost = sat(a.PacketsLost, prev.PacketsLost)
	out.Bytes = sat(a.Bytes, prev.Bytes)
	out.MediaTime = max(a.MediaTime-prev.MediaTime, 0)
	out.VideoTime = max(a.VideoTime-prev.VideoTime, 0)
	out.Frames = sat(a.Frames, prev.Frames)
	out.FreezeCount = max(a.FreezeCount-prev.FreezeCount, 0)
	out.FreezeDuration = max(a.FreezeDuration-prev.FreezeDuration, 0)
	out.LayerTime = LayerTime{
		Q: max(a.LayerTime.Q-prev.LayerTime.Q, 0),
		H: max(a.LayerTime.H-prev.LayerTime.H, 0),
		F: max(a.LayerTime.F-prev.LayerTime.F, 0),
	}
	out.NACKsSent = sat(a.NACKsSent, prev.NACKsSent)
	out.PLIsSent = sat(a.PLIsSent, prev.PLIsSent)
	out.ClockSkewed = sat(a.ClockSkewed, prev.ClockSkewed)
	return out
}

// sat subtracts without wrapping: a bot that left takes its counts along.
func sat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// LossPct returns lost packets as a percentage of expected ones.
// An interval (Sub) can hold more losses than packets expected in it: the
// end of a run declares the last window's missing packets lost at once. A
// loss rate above 100 % means nothing, so it is capped there.
func (a *Aggregate) LossPct() float64 { return min(pct(a.PacketsLost, a.PacketsExpected), 100) }

// JitterMs returns the mean jitter of tracks that have an estimate.
func (a *Aggregate) JitterMs() float64 {
	if a.jitterTracks == 0 {
		return 0
	}
	return a.jitterSum / float64(a.jitterTracks)
}

// BitrateKbps returns the mean per-track payload bitrate.
func (a *Aggregate) BitrateKbps() float64 { return kbps(a.Bytes, a.MediaTime) }

// FreezesPerMinute returns freezes per minute of video received.
func (a *Aggregate) FreezesPerMinute() float64 {
	if a.VideoTime <= 0 {
		return 0
	}
	return float64(a.FreezeCount) / a.VideoTime.Minutes()
}
