package simulcast

import (
	"math"
	"time"
)

// Inputs is what the Selector sees of one DownTrack at one evaluation.
type Inputs struct {
	// LayerBitrates are the publisher's measured bitrates (bps) per layer;
	// 0 means the layer is not live.
	LayerBitrates [NumLayers]int64
	// Budget is the bitrate (bps) the Allocator gave this track.
	Budget int64
	// Loss is the recent fraction (0..1) of packets the subscriber lost.
	Loss float64
	// MaxLayer is the subscriber's preference, 0..2 (-1 pauses).
	MaxLayer int
	// Visible is false when the subscriber does not render the track.
	Visible bool
	// Proven says the budget rests on evidence about the link (a probe,
	// or congestion the estimate reacted to), so ProvenUpHold applies
	// instead of UpHold.
	Proven bool
}

// Reason explains why the Selector is at its layer. Values are stable and
// short so that metrics can use them as label values.
type Reason uint8

// Reasons, in the order the Selector checks them.
const (
	ReasonNone       Reason = iota // no decision yet
	ReasonStart                    // first decision, or visible again: best fit at once
	ReasonInvisible                // paused: the subscriber does not render it
	ReasonPreference               // the subscriber's MaxLayer capped or paused it
	ReasonLayerLost                // the layer stopped arriving from the publisher
	ReasonBandwidth                // the budget no longer covers the layer
	ReasonLoss                     // loss above HighLoss counted as a shortfall
	ReasonUpgrade                  // the budget covered a higher layer for UpHold
	ReasonResume                   // unpaused after the budget covered "q" for UpHold
)

var reasonNames = [...]string{"none", "start", "invisible", "preference", "layer_lost", "bandwidth", "loss", "upgrade", "resume"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Decision is the Selector's answer: feed Layer to Forwarder.SetTarget.
type Decision struct {
	Layer   int    // target layer, -1 = paused
	From    int    // layer before this evaluation
	Reason  Reason // why the selector is at Layer; changes only with Changed
	Changed bool
	// Drain says a step down for bandwidth left a layer the budget
	// covers less than PauseHeadroom of: stop sending it now
	// (Forwarder.Drain) rather than until the new layer's keyframe.
	Drain bool
}

// Up reports whether the decision raised the layer (including resume).
func (d Decision) Up() bool { return d.Changed && d.Layer > d.From }

// Selector picks the layer of one DownTrack. It goes down as soon as the
// budget no longer covers the current layer and up only after the budget has
// covered a higher layer, with headroom, for UpHold without interruption: the
// headroom gap and the hold together keep an estimate wobbling around a layer
// boundary from flapping. Not safe for concurrent use; the zero value is not
// usable, call NewSelector.
type Selector struct {
	cfg     Config
	layer   int
	reason  Reason
	started bool
	// coveredSince[l] is when the budget began to cover layer l continuously;
	// meaningful only while covered[l].
	covered      [NumLayers]bool
	coveredSince [NumLayers]time.Time
	lastLossDown time.Time
	lossDowned   bool
	changedAt    time.Time // when layer last changed
	lossSince    time.Time // since when loss has stayed above HighLoss; zero: it is not
	// peak[l] is layer l's bitrate held at its recent highs (decaying
	// over peakDecay): what stepping up is judged against.
	peak   [NumLayers]float64
	peakAt time.Time
}

// peakDecay is how fast a layer's held peak bitrate falls back to its
// current rate. An encoder's rate wobbles by ±15 % second to second
// (Chromium's h at 318–415 kbps around a 350 kbps mean): judged on its
// current rate, a dip made a layer look as if it fit a link it did not,
// the step up brought the layer's keyframe on top, and the link gave out
// within a second (the real-Chromium weak-link test at 400 kbit/s).
const peakDecay = 5 * time.Second

// NewSelector returns a selector that has not decided anything (paused).
func NewSelector(cfg Config) *Selector {
	return &Selector{cfg: cfg, layer: LayerPaused}
}

// Layer is the current decision, -1 when paused.
func (s *Selector) Layer() int { return s.layer }

// Decide evaluates in at now. Call it periodically (every few hundred ms) and
// whenever the inputs change a lot; it never reads the clock itself.
func (s *Selector) Decide(in Inputs, now time.Time) Decision {
	s.updateCoverage(&in, now)
	from := s.layer
	next, reason := s.choose(&in, now)
	s.started = true
	if next != from {
		s.layer, s.reason, s.changedAt = next, reason, now
	} else if s.reason == ReasonNone {
		s.reason = reason
	}
	drain := next >= 0 && from > next && reason == ReasonBandwidth &&
		!fits(&in.LayerBitrates, from, in.Budget, s.cfg.PauseHeadroom)
	return Decision{Layer: s.layer, From: from, Reason: s.reason, Changed: next != from, Drain: drain}
}

func (s *Selector) updateCoverage(in *Inputs, now time.Time) {
	switch {
	case in.Loss <= s.cfg.HighLoss:
		s.lossSince = time.Time{}
	case s.lossSince.IsZero():
		s.lossSince = now
	}
	held := s.HoldRates(in.LayerBitrates, now)
	lossOK := in.Loss <= s.cfg.UpMaxLoss
	for l := 0; l < NumLayers; l++ {
		if lossOK && fits(&held, l, in.Budget, s.cfg.UpHeadroom) {
			if !s.covered[l] {
				s.covered[l], s.coveredSince[l] = true, now
			}
		} else {
			s.covered[l] = false
		}
	}
}

// HoldRates takes the layers' current rates at now and returns them held
// at their recent highs: a higher rate is taken at once, a lower one
// approached with time constant peakDecay. Stepping up is judged on these;
// give them to the Allocator as TrackDemand.UpBitrates so that the budget
// it hands out for a step up is one the Selector accepts. Calling it again
// with the same now changes nothing.
func (s *Selector) HoldRates(rates [NumLayers]int64, now time.Time) [NumLayers]int64 {
	s.updatePeaks(&rates, now)
	var held [NumLayers]int64
	lowest := true
	for l, r := range rates {
		switch {
		case r <= 0:
		case lowest:
			// The lowest live layer is judged on its current rate: above
			// it there is only pausing, and a paused track sends nothing
			// a probe could ride on, so a conservative resume could keep
			// video paused on a link that carries it.
			held[l], lowest = r, false
		default:
			held[l] = int64(s.peak[l])
		}
	}
	return held
}

func (s *Selector) updatePeaks(rates *[NumLayers]int64, now time.Time) {
	keep := 0.0
	if !s.peakAt.IsZero() {
		if dt := now.Sub(s.peakAt); dt > 0 {
			keep = math.Exp(-float64(dt) / float64(peakDecay))
		} else {
			keep = 1
		}
	}
	if now.After(s.peakAt) {
		s.peakAt = now
	}
	for l, r := range rates {
		rf := float64(r)
		if r <= 0 {
			s.peak[l] = 0 // not live: nothing to hold
			continue
		}
		s.peak[l] = max(rf, rf+(s.peak[l]-rf)*keep)
	}
}

func (s *Selector) choose(in *Inputs, now time.Time) (int, Reason) {
	rates := &in.LayerBitrates
	if !in.Visible {
		return LayerPaused, ReasonInvisible
	}
	capLayer := clampCap(in.MaxLayer)
	if capLayer < 0 {
		return LayerPaused, ReasonPreference
	}
	top := topLive(rates, capLayer)
	if top < 0 {
		return LayerPaused, ReasonLayerLost
	}
	cur := s.layer
	// Nothing to be stable against after start or after being hidden or
	// capped away: the viewer is waiting for video, so take the best fit now.
	if !s.started || (cur < 0 && (s.reason == ReasonInvisible || s.reason == ReasonPreference || s.reason == ReasonLayerLost)) {
		for l := top; l >= 0; l-- {
			if fits(rates, l, in.Budget, s.cfg.UpHeadroom) {
				return l, ReasonStart
			}
		}
		return LayerPaused, ReasonBandwidth
	}
	if cur >= 0 {
		forced := ReasonNone
		switch {
		case cur > top && cur > capLayer:
			forced = ReasonPreference
		case rates[cur] <= 0:
			forced = ReasonLayerLost
		case !fits(rates, cur, in.Budget, s.cfg.DownHeadroom):
			forced = ReasonBandwidth
		}
		if forced != ReasonNone {
			// Several layers at once if need be: a stalled subscriber costs
			// more than a blurry one.
			start := cur
			if start > top {
				start = top
			}
			for l := start; l >= 0; l-- {
				if l != cur && fits(rates, l, in.Budget, s.cfg.DownHeadroom) {
					return l, forced
				}
			}
			if forced == ReasonLayerLost && top > cur && fits(rates, top, in.Budget, s.cfg.DownHeadroom) {
				return top, forced
			}
			if low := lowestLive(rates, start); low >= 0 && s.keepLowest(in, low, now) {
				if low == cur {
					return cur, s.reason
				}
				return low, forced
			}
			return LayerPaused, ReasonBandwidth
		}
		if in.Loss > s.cfg.HighLoss && (!s.lossDowned || now.Sub(s.lastLossDown) >= s.cfg.LossHold) {
			for l := cur - 1; l >= 0; l-- {
				if rates[l] > 0 {
					s.lossDowned, s.lastLossDown = true, now
					return l, ReasonLoss
				}
			}
		}
	}
	hold := s.cfg.UpHold
	if in.Proven {
		hold = s.cfg.ProvenUpHold
	}
	for l := top; l > cur; l-- {
		if s.covered[l] && now.Sub(s.coveredSince[l]) >= hold {
			if cur < 0 {
				return l, ReasonResume
			}
			return l, ReasonUpgrade
		}
	}
	return cur, s.reason
}

// keepLowest reports whether a budget that no longer covers any layer with
// DownHeadroom still leaves the track on its lowest live layer low rather
// than pause it (Config.PauseHeadroom): it covers low with PauseHeadroom,
// and the track has not been there with loss above HighLoss throughout the
// last LossHold, which says that the link, not only the estimate, is
// short. Loss counts from the switch to low only: the loss that made a
// track leave a higher layer (and its queue, which the lower layer's
// keyframe lands in) lasts a report or two into the lower one.
func (s *Selector) keepLowest(in *Inputs, low int, now time.Time) bool {
	if !fits(&in.LayerBitrates, low, in.Budget, s.cfg.PauseHeadroom) {
		return false
	}
	if s.layer != low || s.lossSince.IsZero() {
		return true
	}
	return now.Sub(later(s.lossSince, s.changedAt)) < s.cfg.LossHold
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Decided reports whether Decide has run, so that a paused Selector can be
// told from one that has not seen its track yet.
func (s *Selector) Decided() bool { return s.started }
