package report

import (
	"fmt"
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
		SLO:       in.SLO,
		Warnings:  in.Warnings,
	}
	if r.Timeline == nil {
		r.Timeline = []Point{}
	}
	for i := range in.Rooms {
		r.Rooms = append(r.Rooms, buildRoom(&in.Rooms[i]))
	}
	s := &r.Summary
	s.Bots.Target = in.TargetBots
	s.SFU = buildSFU(in.SFU)
	s.Loadbot = Loadbot{
		CPUCores:   round(in.Loadbot.CPUCores, 3),
		Bottleneck: in.Loadbot.Cores > 0 && in.Loadbot.CPUCores >= BottleneckShare*float64(in.Loadbot.Cores),
	}
	// Build's own rooms always carry valid raw data.
	_ = r.summarise()
	// Paths come from the bots' inputs; a merged report keeps the
	// per-process figures it was given (see merge.go).
	s.Paths, s.TURNAllocationMs = buildPaths(in.Rooms)
	if len(in.Steps) > 0 {
		// Present for every ramp, zero when not even the first step held,
		// so its absence alone means "this was a run".
		c, _ := Capacity(in.Steps)
		c.CPUFit = FitCPU(in.Steps, s.SFU.GOMAXPROCS)
		r.Capacity = &c
	}
	return r
}

func buildRoom(ri *RoomInput) Room {
	room := Room{Name: ri.Name, Bots: make([]Bot, 0, len(ri.Bots)), Timeline: ri.Timeline,
		LatencyClock: ri.Clock.Source, LatencyNote: ri.Clock.Note}
	if room.LatencyClock == "" {
		room.LatencyClock = ClockSameProcess
	}
	var ra stats.Aggregate
	var gaps stats.Histogram
	var bitrateSum float64
	var bitrateBots int
	for i := range ri.Bots {
		bi := &ri.Bots[i]
		for _, g := range bi.Reconnect.MediaGaps {
			gaps.Record(g)
		}
		if bi.Publisher {
			room.Publishers++
		} else {
			room.Subscribers++
		}
		bot, ba, _ := buildBot(bi)
		room.Bots = append(room.Bots, bot)
		if bi.Publisher {
			continue
		}
		ra.Merge(&ba)
		if ba.Tracks > 0 {
			bitrateSum += botBitrate(bi.Tracks)
			bitrateBots++
		}
	}
	room.Raw = rawOf(&ra, bitrateSum, bitrateBots)
	if gaps.Count() > 0 {
		g := histOf(&gaps)
		room.Raw.MediaGaps = &g
	}
	room.fill(&ra)
	return room
}

// fill sets the room's figures from its aggregate.
func (room *Room) fill(ra *stats.Aggregate) {
	room.LatencyMs = latency(&ra.Latency)
	room.LossPct = round(ra.LossPct(), 3)
	room.JitterMs = round(ra.JitterMs(), 2)
	room.Freezes = freezes(ra)
	room.Layers = layers(ra.LayerTime)
}

// summarise computes the summary from the rooms — their raw aggregates and
// bot rows — keeping Bots.Target, Bots.Lost, SFU and Loadbot as set. Every
// summary figure comes from here, so a merged report and a single one are
// computed alike: a new summary field must be derivable from the rooms.
func (r *Report) summarise() error {
	s := &r.Summary
	target, lost, sfu, lb := s.Bots.Target, s.Bots.Lost, s.SFU, s.Loadbot
	*s = Summary{SFU: sfu, Loadbot: lb}
	s.Bots.Lost = lost

	var all stats.Aggregate
	var joins, ttff, tops, gaps stats.Histogram
	failures := map[string]int{}
	var bitrateSum float64
	var bitrateBots, absent, measured int
	var note string
	for i := range r.Rooms {
		room := &r.Rooms[i]
		if room.Raw != nil {
			a, err := room.Raw.aggregate()
			if err != nil {
				return errRaw("room "+room.Name, err)
			}
			all.Merge(&a)
			bitrateSum += room.Raw.BitrateSumKbps
			bitrateBots += room.Raw.BitrateBots
		}
		switch room.LatencyClock {
		case ClockAbsent, ClockPartial:
			absent++
			if note == "" {
				note = room.LatencyNote
			}
			if room.LatencyClock == ClockPartial {
				measured++
			}
		default:
			measured++
		}
		if room.Raw != nil && room.Raw.MediaGaps != nil {
			g, err := room.Raw.MediaGaps.histogram()
			if err != nil {
				return errRaw("room "+room.Name, err)
			}
			gaps.Merge(&g)
		}
		for i := range room.Bots {
			b := &room.Bots[i]
			addReconnects(s, b)
			if b.JoinFailure != "" {
				s.Bots.Failed++
				failures[b.JoinFailure]++
				continue
			}
			s.Bots.Connected++
			if b.JoinMs > 0 {
				joins.Record(fromMs(b.JoinMs))
			}
			if b.Role != "publisher" && b.TimeToFirstFrameMs > 0 {
				ttff.Record(fromMs(b.TimeToFirstFrameMs))
			}
			if b.Role != "publisher" && !b.Shaped && b.Layers != (Layers{}) {
				if b.TimeToTopMs == nil {
					s.TimeToTop.Never++
				} else {
					s.TimeToTop.Reached++
					tops.Record(fromMs(*b.TimeToTopMs))
				}
			}
		}
	}
	s.Bots.Target = target
	if s.Bots.Target == 0 {
		s.Bots.Target = s.Bots.Connected + s.Bots.Failed + s.Bots.Lost
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
	s.TimeToTop.Ms = P50P99Max{P50: ms(tops.Quantile(0.5)), P99: ms(tops.Quantile(0.99)), Max: ms(tops.Max())}
	s.ClockSkew = ClockSkew{Packets: all.ClockSkewed, MaxMs: ms(all.MaxClockSkew)}
	s.MediaGapMs = P50P99Max{P50: ms(gaps.Quantile(0.5)), P99: ms(gaps.Quantile(0.99)), Max: ms(gaps.Max())}
	if absent > 0 {
		if measured == 0 {
			s.LatencyNote = "latency absent: " + note
		} else {
			s.LatencyNote = fmt.Sprintf("latency covers only the subscribers that share a clock with their publishers; absent for %d of %d rooms in whole or part: %s", absent, len(r.Rooms), note)
		}
	}
	s.SLO.Passed, s.SLO.Breaches = Evaluate(r.SLO, *s)
	return nil
}

func fromMs(v float64) time.Duration { return time.Duration(math.Round(v * float64(time.Millisecond))) }

// addReconnects adds one bot row's redirects and reconnects to the summary.
func addReconnects(s *Summary, b *Bot) {
	s.Redirects += b.Redirects
	s.Reconnects += b.Reconnects
	if b.Reconnects > 0 {
		s.ReconnectedBots++
	}
	if b.MediaLost {
		s.MediaLostBots++
	}
}

// buildBot returns the bot's report row, the aggregate of its received
// tracks and its time to first video frame (any frame if no video).
func buildBot(bi *BotInput) (Bot, stats.Aggregate, time.Duration) {
	b := Bot{ID: bi.ID, Role: "subscriber", Shaped: bi.Shaped, JoinFailure: bi.JoinFailure,
		Path: bi.Path, TURNAllocationMs: ms(bi.Join.TURNAllocated),
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
	b.JoinStagesMs = JoinStages{WSOpen: ms(bi.Join.WSOpen), Joined: ms(bi.Join.Joined),
		ICEConnected: ms(bi.Join.ICEConnected), FirstMedia: ms(bi.Join.FirstMedia)}
	var a stats.Aggregate
	var firstVideo, firstAny, top time.Duration
	videos, reachedTop := 0, 0
	for i := range bi.Tracks {
		t := &bi.Tracks[i]
		a.Add(t)
		if t.Kind == stats.KindVideo && t.TimeToFirstFrame > 0 {
			videos++
			if t.ReachedTop {
				reachedTop++
				top = max(top, t.TimeToTop)
			}
		}
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
	if videos > 0 && reachedTop == videos {
		v := ms(top)
		b.TimeToTopMs = &v
	}
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
