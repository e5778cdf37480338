package simulcast

// TrackDemand is one video track a subscriber receives, as the Allocator
// sees it.
type TrackDemand struct {
	// LayerBitrates are the publisher's measured bitrates (bps); 0 = not live.
	LayerBitrates [NumLayers]int64
	// UpBitrates are the same held at their recent highs
	// (Selector.HoldRates): what reaching a layer is charged, as the
	// Selector judges a step up. Zero entries fall back to LayerBitrates.
	UpBitrates [NumLayers]int64
	// MaxLayer is the subscriber's preference (0..2, -1 = paused).
	MaxLayer int
	// Visible is false when the subscriber does not render the track.
	Visible bool
	// Current is the track's Selector layer (-1 when paused). Keeping a
	// layer is charged DownHeadroom, reaching a new one UpHeadroom, so the
	// allocation has the same hysteresis as the Selector.
	Current int
}

// Allocator splits one subscriber's bandwidth estimate across the video
// tracks it receives. It keeps scratch space between calls so that a
// steady-state Allocate does not allocate; not safe for concurrent use.
type Allocator struct {
	cfg   Config
	level []int8
}

// NewAllocator returns an Allocator charging cfg's headrooms.
func NewAllocator(cfg Config) *Allocator {
	return &Allocator{cfg: cfg}
}

// Allocate writes each track's budget (bps) into out[i], reusing out's
// storage, and returns it. audio (bps: what the subscriber's audio tracks
// need) comes off the estimate first: audio always flows. Then every visible track gets its lowest live
// layer, in the order given (put the tracks that matter most, e.g. the active
// speaker, first: they keep video when not all can). Then upgrades go one
// layer at a time to the track on the lowest layer, cheapest upgrade first,
// so that four publishers share the budget instead of one taking it all. The
// first track that does not get its lowest layer gets what is left, short
// of that layer (the Selector may keep it there: see Config.PauseHeadroom);
// the others get 0, which pauses them.
func (a *Allocator) Allocate(estimate, audio int64, tracks []TrackDemand, out []int64) []int64 {
	n := len(tracks)
	if cap(out) < n {
		out = make([]int64, n)
	}
	out = out[:n]
	if cap(a.level) < n {
		a.level = make([]int8, n)
	}
	level := a.level[:n]

	remaining := estimate - audio
	short := -1 // the first track that does not get its lowest layer
	for i := range tracks {
		out[i], level[i] = 0, -1
		t := &tracks[i]
		if !t.Visible || t.MaxLayer < 0 {
			continue
		}
		l := lowestLive(&t.LayerBitrates, topLive(&t.LayerBitrates, clampCap(t.MaxLayer)))
		if l < 0 {
			continue
		}
		if c := a.cost(t, l); c <= remaining {
			out[i], level[i] = c, int8(l)
			remaining -= c
		} else if short < 0 {
			short = i
		}
	}

	for {
		best, bestCost, bestNext := -1, int64(0), 0
		for i := range tracks {
			if level[i] < 0 {
				continue
			}
			t := &tracks[i]
			next := nextLive(&t.LayerBitrates, int(level[i]), topLive(&t.LayerBitrates, clampCap(t.MaxLayer)))
			if next < 0 {
				continue
			}
			c := a.cost(t, next) - out[i]
			if c > remaining {
				continue
			}
			if best < 0 || level[i] < level[best] || (level[i] == level[best] && c < bestCost) {
				best, bestCost, bestNext = i, c, next
			}
		}
		if best < 0 {
			break
		}
		out[best] += bestCost
		level[best] = int8(bestNext)
		remaining -= bestCost
	}
	if short >= 0 && remaining > 0 {
		out[short] = remaining
	}
	return out
}

// cost is what layer l of t is charged: less to keep than to reach.
func (a *Allocator) cost(t *TrackDemand, l int) int64 {
	if t.Current >= l {
		return charge(t.LayerBitrates[l], a.cfg.DownHeadroom)
	}
	return a.ReachCost(t, l)
}

// ReachCost is what moving t onto layer l (from below, or from a pause) is
// charged: its held peak rate with UpHeadroom.
func (a *Allocator) ReachCost(t *TrackDemand, l int) int64 {
	rate := t.UpBitrates[l]
	if rate <= 0 {
		rate = t.LayerBitrates[l]
	}
	return charge(rate, a.cfg.UpHeadroom)
}

// charge is rate times headroom, rounded up so that the Selector's fits()
// agrees with the Allocator.
func charge(rate int64, headroom float64) int64 {
	c := float64(rate) * headroom
	ci := int64(c)
	if float64(ci) < c {
		ci++
	}
	return ci
}

// lowestLive is the lowest live layer at or below top, -1 if none.
func lowestLive(rates *[NumLayers]int64, top int) int {
	for l := 0; l <= top; l++ {
		if rates[l] > 0 {
			return l
		}
	}
	return -1
}

// nextLive is the next live layer above l and at or below top, -1 if none.
func nextLive(rates *[NumLayers]int64, l, top int) int {
	for n := l + 1; n <= top; n++ {
		if rates[n] > 0 {
			return n
		}
	}
	return -1
}
