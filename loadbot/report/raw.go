package report

import (
	"fmt"
	"time"

	"github.com/surgertc/surge/loadbot/stats"
)

// Raw is a room's aggregate over its subscribers' tracks in a form that
// merges exactly: counters, nanosecond durations and the latency
// histogram's buckets. Percentiles and rates do not add up across
// processes; these do, so `loadbot merge` and the coordinator recompute
// every summary number from Raw as one process would have.
type Raw struct {
	Tracks          int    `json:"tracks"`
	VideoTracks     int    `json:"video_tracks"`
	Latency         Hist   `json:"latency"`
	PacketsExpected uint64 `json:"packets_expected"`
	PacketsReceived uint64 `json:"packets_received"`
	PacketsLost     uint64 `json:"packets_lost"`
	Bytes           uint64 `json:"bytes"`
	MediaTimeNs     int64  `json:"media_time_ns"`
	VideoTimeNs     int64  `json:"video_time_ns"`
	// JitterSumMs over JitterTracks is the mean jitter.
	JitterSumMs    float64 `json:"jitter_sum_ms"`
	JitterTracks   int     `json:"jitter_tracks"`
	Frames         uint64  `json:"frames"`
	FreezeCount    int     `json:"freeze_count"`
	FreezeNs       int64   `json:"freeze_ns"`
	LayerQNs       int64   `json:"layer_q_ns"`
	LayerHNs       int64   `json:"layer_h_ns"`
	LayerFNs       int64   `json:"layer_f_ns"`
	NACKs          uint64  `json:"nacks"`
	PLIs           uint64  `json:"plis"`
	ClockSkewed    uint64  `json:"clock_skewed"`
	MaxClockSkewNs int64   `json:"max_clock_skew_ns"`
	// BitrateSumKbps over BitrateBots is the mean per-subscriber bitrate.
	BitrateSumKbps float64 `json:"bitrate_sum_kbps"`
	BitrateBots    int     `json:"bitrate_bots"`
	// MediaGaps are the room's bots' media gaps after lost sessions
	// (publishers' and subscribers'); absent when there were none.
	MediaGaps *Hist `json:"media_gaps,omitempty"`
}

// Hist is a stats.Histogram: its non-empty buckets as [lower bound in µs,
// count] pairs and its exact minimum, maximum and sum.
type Hist struct {
	MinNs   int64       `json:"min_ns"`
	MaxNs   int64       `json:"max_ns"`
	SumNs   int64       `json:"sum_ns"`
	Buckets [][2]uint64 `json:"buckets"`
}

// PointRaw is the mergeable part of one timeline interval.
type PointRaw struct {
	PacketsExpected uint64 `json:"packets_expected"`
	PacketsLost     uint64 `json:"packets_lost"`
	Latency         Hist   `json:"latency"`
}

func histOf(h *stats.Histogram) Hist {
	bs := h.Buckets()
	out := Hist{MinNs: int64(h.Min()), MaxNs: int64(h.Max()), SumNs: int64(h.Sum()), Buckets: make([][2]uint64, len(bs))}
	for i, b := range bs {
		out.Buckets[i] = [2]uint64{b.LowerUS, b.Count}
	}
	return out
}

func (h Hist) histogram() (stats.Histogram, error) {
	bs := make([]stats.Bucket, len(h.Buckets))
	for i, b := range h.Buckets {
		bs[i] = stats.Bucket{LowerUS: b[0], Count: b[1]}
	}
	return stats.HistogramFrom(bs, time.Duration(h.MinNs), time.Duration(h.MaxNs), time.Duration(h.SumNs))
}

func rawOf(a *stats.Aggregate, bitrateSum float64, bitrateBots int) *Raw {
	js, jt := a.Jitter()
	return &Raw{
		Tracks: a.Tracks, VideoTracks: a.VideoTracks, Latency: histOf(&a.Latency),
		PacketsExpected: a.PacketsExpected, PacketsReceived: a.PacketsReceived, PacketsLost: a.PacketsLost,
		Bytes: a.Bytes, MediaTimeNs: int64(a.MediaTime), VideoTimeNs: int64(a.VideoTime),
		JitterSumMs: js, JitterTracks: jt,
		Frames: a.Frames, FreezeCount: a.FreezeCount, FreezeNs: int64(a.FreezeDuration),
		LayerQNs: int64(a.LayerTime.Q), LayerHNs: int64(a.LayerTime.H), LayerFNs: int64(a.LayerTime.F),
		NACKs: a.NACKsSent, PLIs: a.PLIsSent, ClockSkewed: a.ClockSkewed, MaxClockSkewNs: int64(a.MaxClockSkew),
		BitrateSumKbps: bitrateSum, BitrateBots: bitrateBots,
	}
}

func (r *Raw) aggregate() (stats.Aggregate, error) {
	lat, err := r.Latency.histogram()
	if err != nil {
		return stats.Aggregate{}, err
	}
	a := stats.Aggregate{
		Tracks: r.Tracks, VideoTracks: r.VideoTracks, Latency: lat,
		PacketsExpected: r.PacketsExpected, PacketsReceived: r.PacketsReceived, PacketsLost: r.PacketsLost,
		Bytes: r.Bytes, MediaTime: time.Duration(r.MediaTimeNs), VideoTime: time.Duration(r.VideoTimeNs),
		Frames: r.Frames, FreezeCount: r.FreezeCount, FreezeDuration: time.Duration(r.FreezeNs),
		LayerTime: stats.LayerTime{Q: time.Duration(r.LayerQNs), H: time.Duration(r.LayerHNs), F: time.Duration(r.LayerFNs)},
		NACKsSent: r.NACKs, PLIsSent: r.PLIs, ClockSkewed: r.ClockSkewed, MaxClockSkew: time.Duration(r.MaxClockSkewNs),
	}
	a.SetJitter(r.JitterSumMs, r.JitterTracks)
	return a, nil
}

// mergeRaw adds o to r.
func mergeRaw(r, o *Raw) (*Raw, error) {
	a, err := r.aggregate()
	if err != nil {
		return nil, err
	}
	b, err := o.aggregate()
	if err != nil {
		return nil, err
	}
	a.Merge(&b)
	out := rawOf(&a, r.BitrateSumKbps+o.BitrateSumKbps, r.BitrateBots+o.BitrateBots)
	var gaps stats.Histogram
	for _, h := range []*Hist{r.MediaGaps, o.MediaGaps} {
		if h == nil {
			continue
		}
		g, err := h.histogram()
		if err != nil {
			return nil, err
		}
		gaps.Merge(&g)
	}
	if gaps.Count() > 0 {
		g := histOf(&gaps)
		out.MediaGaps = &g
	}
	return out, nil
}

func pointRawOf(interval *stats.Aggregate) *PointRaw {
	return &PointRaw{PacketsExpected: interval.PacketsExpected, PacketsLost: interval.PacketsLost, Latency: histOf(&interval.Latency)}
}

// stats turns a PointRaw back into the interval's latency and loss.
func (p *PointRaw) stats() (P50P99, float64, error) {
	h, err := p.Latency.histogram()
	if err != nil {
		return P50P99{}, 0, err
	}
	a := stats.Aggregate{PacketsExpected: p.PacketsExpected, PacketsLost: p.PacketsLost}
	return P50P99{P50: ms(h.Quantile(0.5)), P99: ms(h.Quantile(0.99))}, round(a.LossPct(), 3), nil
}

func mergePointRaw(p, o *PointRaw) (*PointRaw, error) {
	a, err := p.Latency.histogram()
	if err != nil {
		return nil, err
	}
	b, err := o.Latency.histogram()
	if err != nil {
		return nil, err
	}
	a.Merge(&b)
	return &PointRaw{PacketsExpected: p.PacketsExpected + o.PacketsExpected, PacketsLost: p.PacketsLost + o.PacketsLost, Latency: histOf(&a)}, nil
}

// NewRoomPoint builds a room's timeline point from its interval aggregate.
func NewRoomPoint(t time.Duration, interval *stats.Aggregate) RoomPoint {
	return RoomPoint{
		TS:        round(t.Seconds(), 3),
		LatencyMs: P50P99{P50: ms(interval.Latency.Quantile(0.50)), P99: ms(interval.Latency.Quantile(0.99))},
		LossPct:   round(interval.LossPct(), 3),
		Raw:       pointRawOf(interval),
	}
}

func errRaw(what string, err error) error { return fmt.Errorf("%s: bad raw data: %w", what, err) }
