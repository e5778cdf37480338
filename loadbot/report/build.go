package report

import (
	"math"
	"time"

	"github.com/surgertc/surge/loadbot/stats"
)

// Build turns the runner's inputs into a Report, verdict included.
func Build(in Input) Report {
	r := Report{
		Version:   Version,
		Scenario:  in.Scenario,
		StartedAt: in.StartedAt,
		EndedAt:   in.EndedAt,
		Partial:   in.Partial,
		Rooms:     make([]Room, 0, len(in.Rooms)),
		Timeline:  in.Timeline,
		Steps:     in.Steps,
	}
	if r.Timeline == nil {
		r.Timeline = []Point{}
	}

	var all stats.Aggregate
	var joins, ttff, gaps stats.Histogram
	failures := map[string]int{}
	var bitrateSum float64
	var bitrateBots int
	s := &r.Summary
	s.Bots.Target = in.TargetBots

	for _, ri := range in.Rooms {
		room := Room{Name: ri.Name, Bots: make([]Bot, 0, len(ri.Bots))}
		var ra stats.Aggregate
		for i := range ri.Bots {
			bi := &ri.Bots[i]
			if bi.Publisher {
				room.Publishers++
			} else {
				room.Subscribers++
			}
			if bi.JoinFailure != "" {
				s.Bots.Failed++
				failures[bi.JoinFailure]++
			} else {
				s.Bots.Connected++
				if d := bi.joinDuration(); d > 0 {
					joins.Record(d)
				}
			}
			bot, ba, first := buildBot(bi)
			room.Bots = append(room.Bots, bot)
			addReconnects(s, &gaps, &bi.Reconnect)
			if bi.Publisher {
				continue
			}
			ra.Merge(&ba)
			if first > 0 {
				ttff.Record(first)
			}
			if ba.Tracks > 0 {
				bitrateSum += botBitrate(bi.Tracks)
				bitrateBots++
			}
		}
		room.LatencyMs = latency(&ra.Latency)
		room.LossPct = round(ra.LossPct(), 3)
		room.JitterMs = round(ra.JitterMs(), 2)
		room.Freezes = freezes(&ra)
		room.Layers = layers(ra.LayerTime)
		r.Rooms = append(r.Rooms, room)
		all.Merge(&ra)
	}
	if s.Bots.Target == 0 {
		s.Bots.Target = s.Bots.Connected + s.Bots.Failed
	}

	s.JoinMs = P50P95P99{P50: ms(joins.Quantile(0.5)), P95: ms(joins.Quantile(0.95)), P99: ms(joins.Quantile(0.99))}
	s.JoinFailures = failures
	s.LatencyMs = latency(&all.Latency)
	s.LossPct = round(all.LossPct(), 3)
	s.JitterMs = round(all.JitterMs(), 2)
	s.Freezes = freezes(&all)
	s.Layers = layers(all.LayerTime)
	if bitrateBots > 0 {
		s.BitrateKbps = round(bitrateSum/float64(bitrateBots), 1)
	}
	s.NACKsSent = all.NACKsSent
	s.PLIsSent = all.PLIsSent
	s.TimeToFirstFrameMs = P50P99{P50: ms(ttff.Quantile(0.5)), P99: ms(ttff.Quantile(0.99))}
	s.MediaGapMs = P50P99Max{P50: ms(gaps.Quantile(0.5)), P99: ms(gaps.Quantile(0.99)), Max: ms(gaps.Max())}
	s.SFU = buildSFU(in.SFU)
	s.Loadbot = Loadbot{
		CPUCores:   round(in.Loadbot.CPUCores, 3),
		Bottleneck: in.Loadbot.Cores > 0 && in.Loadbot.CPUCores >= BottleneckShare*float64(in.Loadbot.Cores),
	}
	s.SLO.Passed, s.SLO.Breaches = Evaluate(in.SLO, *s)

	if len(in.Steps) > 0 {
		// Present for every ramp, zero when not even the first step held,
		// so its absence alone means "this was a run".
		c, _ := Capacity(in.Steps)
		r.Capacity = &c
	}
	return r
}

// addReconnects adds one bot's redirects, reconnects and gaps to the summary.
func addReconnects(s *Summary, gaps *stats.Histogram, rc *ReconnectInput) {
	s.Redirects += rc.Redirects
	s.Reconnects += rc.Reconnects
	if rc.Reconnects > 0 {
		s.ReconnectedBots++
	}
	if rc.MediaLost {
		s.MediaLostBots++
	}
	for _, g := range rc.MediaGaps {
		gaps.Record(g)
	}
}

// buildBot returns the bot's report row, the aggregate of its received
// tracks and its time to first video frame (any frame if no video).
func buildBot(bi *BotInput) (Bot, stats.Aggregate, time.Duration) {
	b := Bot{ID: bi.ID, Role: "subscriber", Shaped: bi.Shaped, JoinFailure: bi.JoinFailure,
		Redirects: bi.Reconnect.Redirects, Reconnects: bi.Reconnect.Reconnects,
		MediaLost: bi.Reconnect.MediaLost, SignalURL: bi.Reconnect.SignalURL}
	for _, g := range bi.Reconnect.MediaGaps {
		b.MediaGapMs = max(b.MediaGapMs, ms(g))
	}
	if bi.Publisher {
		b.Role = "publisher"
	}
	if bi.JoinFailure == "" {
		b.JoinMs = ms(bi.joinDuration())
	}
	var a stats.Aggregate
	var firstVideo, firstAny time.Duration
	for i := range bi.Tracks {
		t := &bi.Tracks[i]
		a.Add(t)
		if t.TimeToFirstFrame > 0 {
			if t.Kind == stats.KindVideo && (firstVideo == 0 || t.TimeToFirstFrame < firstVideo) {
				firstVideo = t.TimeToFirstFrame
			}
			if firstAny == 0 || t.TimeToFirstFrame < firstAny {
				firstAny = t.TimeToFirstFrame
			}
		}
	}
	first := firstVideo
	if first == 0 {
		first = firstAny
	}
	if bi.Publisher {
		return b, a, 0
	}
	b.LatencyMs = P50P99Max{
		P50: ms(a.Latency.Quantile(0.5)), P99: ms(a.Latency.Quantile(0.99)), Max: ms(a.Latency.Max()),
	}
	b.LossPct = round(a.LossPct(), 3)
	b.JitterMs = round(a.JitterMs(), 2)
	b.Layers = layers(a.LayerTime)
	b.Freezes = freezes(&a)
	b.Frames = a.Frames
	b.TimeToFirstFrameMs = ms(first)
	return b, a, first
}

// botBitrate is what the bot received per second over its longest-lived
// track: the rate its downlink carried, not a per-track mean.
func botBitrate(tracks []stats.Snapshot) float64 {
	var bytes uint64
	var span time.Duration
	for i := range tracks {
		bytes += tracks[i].Bytes
		span = max(span, tracks[i].Duration())
	}
	if span <= 0 {
		return 0
	}
	return float64(bytes) * 8 / span.Seconds() / 1000
}

func buildSFU(in SFUInput) SFU {
	out := SFU{Scraped: in.Scraped, Dropped: map[string]float64{}}
	if !in.Scraped {
		return out
	}
	mean, peak := CPUCores(in.Samples)
	out.CPUCores = round(mean, 3)
	out.GOMAXPROCS = in.GOMAXPROCS
	if in.GOMAXPROCS > 0 {
		// Headroom from the busiest interval: capacity planning cares
		// about the peak, not the average.
		out.CPUHeadroomPct = round(math.Max(0, (1-peak/float64(in.GOMAXPROCS))*100), 1)
	}
	out.ForwardLatencyMs = P50P99{P50: round(in.ForwardLatencyMs.P50, 3), P99: round(in.ForwardLatencyMs.P99, 3)}
	for k, v := range in.Dropped {
		out.Dropped[k] = v
	}
	return out
}

func latency(h *stats.Histogram) Latency {
	return Latency{
		P50: ms(h.Quantile(0.50)),
		P95: ms(h.Quantile(0.95)),
		P99: ms(h.Quantile(0.99)),
		Max: ms(h.Max()),
	}
}

func freezes(a *stats.Aggregate) Freezes {
	return Freezes{
		Count:  a.FreezeCount,
		TotalS: round(a.FreezeDuration.Seconds(), 3),
		PerMin: round(a.FreezesPerMinute(), 3),
	}
}

func layers(l stats.LayerTime) Layers {
	q, h, f := l.Shares()
	return Layers{Q: round(q, 4), H: round(h, 4), F: round(f, 4)}
}

// ms rounds to hundredths of a millisecond: finer than any SLO, coarse
// enough that the JSON stays readable.
func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 2) }

func round(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		// encoding/json rejects NaN and Inf; a report must always encode.
		return 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
