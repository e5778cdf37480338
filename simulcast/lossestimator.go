package simulcast

import "time"

// LossEstimator is the fallback bandwidth estimate for a subscriber that did
// not negotiate transport-wide-cc, so that GCC's delay-based estimate has
// nothing to work on. It follows the loss the subscriber's receiver reports
// announce, as GCC's loss-based controller does: above 10 % loss the rate
// drops by half the loss, below 2 % it grows by 8 % per second, in between
// it holds.
type LossEstimator struct {
	rate, min, max int64
	last           time.Time
}

// Loss thresholds of the loss-based controller (GCC draft §6).
const (
	lossDecrease = 0.10
	lossIncrease = 0.02
)

// NewLossEstimator starts at initial bps, clamped to [min, max].
func NewLossEstimator(initial, min, max int64) *LossEstimator {
	return &LossEstimator{rate: clamp64(initial, min, max), min: min, max: max}
}

// Update feeds the loss fraction (0..1) of one receiver report and returns
// the new estimate.
func (e *LossEstimator) Update(loss float64, now time.Time) int64 {
	elapsed := time.Second
	if !e.last.IsZero() {
		elapsed = now.Sub(e.last)
	}
	e.last = now
	switch {
	case loss > lossDecrease:
		e.rate = int64(float64(e.rate) * (1 - 0.5*loss))
	case loss < lossIncrease:
		growth := 1 + 0.08*min(elapsed.Seconds(), 1)
		e.rate = int64(float64(e.rate) * growth)
	}
	e.rate = clamp64(e.rate, e.min, e.max)
	return e.rate
}

// Estimate is the current estimate (bps).
func (e *LossEstimator) Estimate() int64 { return e.rate }

func clamp64(v, lo, hi int64) int64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
