package bwe

import (
	"math"
	"time"
)

// Estimator is one subscriber's bandwidth estimate. It belongs to one
// goroutine (the one reading the subscriber's feedback); hand its Stats to
// others.
type Estimator struct {
	cfg   Config
	epoch time.Time

	delay  *delayDetector
	acked  ackedRate
	loss   lossWindow
	probes probeTracker

	delayRate, lossRate int64
	lastUpdate          time.Duration
	haveUpdate          bool
	lastDecrease        time.Duration
	lastLossDecrease    time.Duration
	rtt                 time.Duration

	// The delivered rate at recent decreases, averaged: near it the rate
	// grows additively, away from it multiplicatively.
	capacity, capacityVar float64 // kbps; variance normalised by capacity
	proven                bool    // a probe or a decrease has replaced the initial guess
	probeQuietUntil       time.Duration
	lastProbe             ProbeResult
	// doubted: the last probe found the link short, so the next reading
	// is held (candidate, bps) until a second one confirms it, and the
	// lower of the two counts. A receiver that stamps a burst's arrivals
	// together (a busy client reading its socket late) makes a link of
	// any rate read as faster than it is, and one such reading would step
	// the subscriber up into a link that cannot carry it.
	doubted      bool
	candidate    int64
	probeScratch []ProbeResult
}

// Stats is a snapshot of the estimate and what it rests on.
type Stats struct {
	Target   int64 // the estimate (bps)
	Acked    int64 // rate the receiver got recently (bps), 0 unknown
	Loss     float64
	LossOK   bool // enough packets for Loss to mean something
	Usage    Usage
	Proven   bool // backed by evidence, not the initial guess
	Trend    float64
	Gate     float64 // ms the smoothed delay grew over the trend window
	Capacity int64   // delivered rate at the last decreases (bps), 0 unknown
}

// NewEstimator starts at cfg.Initial; epoch is the History's.
func NewEstimator(cfg Config, epoch time.Time) *Estimator {
	return &Estimator{
		cfg:       cfg,
		epoch:     epoch,
		delay:     newDelayDetector(cfg),
		acked:     ackedRate{window: 500 * time.Millisecond},
		delayRate: cfg.Initial,
		lossRate:  cfg.Max,
		rtt:       100 * time.Millisecond,
	}
}

// SetRTT tells the estimator the path's round-trip time.
func (e *Estimator) SetRTT(rtt time.Duration) {
	if rtt > 0 {
		e.rtt = min(rtt, 2*time.Second)
	}
}

// StartProbe registers a probe cluster the sender is about to emit: id is
// the cluster id it stamps into History.Sent, packets how many it sends.
func (e *Estimator) StartProbe(id int, target int64, packets int, now time.Time) {
	t := now.Sub(e.epoch)
	e.probes.start(id, target, packets, t)
	// The burst queues at the bottleneck and delays the media behind it
	// until it drains: that delay is the probe's, not congestion.
	drain := time.Duration(float64(packets*300*8) / float64(max(e.Target(), e.cfg.Min)) * float64(time.Second))
	e.probeQuietUntil = max(e.probeQuietUntil, t+drain+e.rtt+200*time.Millisecond)
}

// OnFeedback feeds the results of one feedback packet, in its order, and
// returns the probe clusters it completed.
func (e *Estimator) OnFeedback(now time.Time, results []PacketResult) []ProbeResult {
	t := now.Sub(e.epoch)
	for i := range results {
		r := &results[i]
		e.loss.add(r.SendTime, !r.Received)
		e.probes.add(r)
		if r.Received {
			e.delay.add(r)
			e.acked.add(r.Arrival, r.Size)
		}
	}
	e.updateDelayRate(t)
	e.updateLossRate(t)
	e.applyFloor()
	e.probeScratch = e.probes.results(t, e.probeScratch[:0])
	for i := range e.probeScratch {
		e.applyProbe(&e.probeScratch[i])
	}
	e.lastUpdate, e.haveUpdate = t, true
	return e.probeScratch
}

// Tick lets probe clusters whose feedback never came time out; call it now
// and then even without feedback.
func (e *Estimator) Tick(now time.Time) []ProbeResult {
	e.probeScratch = e.probes.results(now.Sub(e.epoch), e.probeScratch[:0])
	for i := range e.probeScratch {
		e.applyProbe(&e.probeScratch[i])
	}
	return e.probeScratch
}

func (e *Estimator) elapsed(t time.Duration) float64 {
	if !e.haveUpdate {
		return 0
	}
	return min(max((t-e.lastUpdate).Seconds(), 0), 1)
}

// updateDelayRate is the AIMD controller on the detector's verdict.
func (e *Estimator) updateDelayRate(t time.Duration) {
	acked := e.acked.rate()
	switch e.delay.usage {
	case UsageOver:
		if t < e.probeQuietUntil || t-e.lastDecrease < e.rtt {
			return // one decrease per round trip: the next verdict still sees the old queue
		}
		next := int64(0.85 * float64(e.delayRate))
		if acked > 0 {
			next = int64(0.85 * float64(acked))
		}
		e.delayRate = max(min(next, e.delayRate), e.cfg.Min)
		e.noteCapacity(acked)
		e.lastDecrease, e.proven = t, true
	case UsageUnder:
		// The queue drains: hold, so it empties.
	default:
		dt := e.elapsed(t)
		if dt == 0 {
			return
		}
		next := e.delayRate
		if e.nearCapacity() {
			// One packet per response time: gentle near where the link
			// gave out last time.
			response := (e.rtt + 100*time.Millisecond).Seconds()
			next += max(int64(1200*8*dt/response), 1000)
		} else {
			next = int64(float64(next) * math.Pow(1.08, dt))
		}
		// Without evidence the estimate may not run off: at most 1.5x
		// what was delivered (a rate already above it stays).
		if acked > 0 {
			limit := acked*3/2 + 10_000
			if next > limit {
				next = max(e.delayRate, limit)
			}
		}
		e.delayRate = min(next, e.cfg.Max)
	}
}

func (e *Estimator) noteCapacity(acked int64) {
	if acked <= 0 {
		return
	}
	k := float64(acked) / 1000
	// Far below the average: the link got worse, start the average over
	// (libwebrtc's AimdRateController does the same).
	if e.capacity == 0 || k < e.capacity-3*e.capacitySD() {
		e.capacity, e.capacityVar = k, 0.4
		return
	}
	const a = 0.05
	e.capacity = (1-a)*e.capacity + a*k
	d := e.capacity - k
	e.capacityVar = min(max((1-a)*e.capacityVar+a*d*d/math.Max(e.capacity, 1), 0.4), 2.5)
}

// capacitySD is the standard deviation of the capacity average, in kbps;
// the variance is kept normalised by the average.
func (e *Estimator) capacitySD() float64 { return math.Sqrt(e.capacityVar * e.capacity) }

func (e *Estimator) nearCapacity() bool {
	if e.capacity == 0 {
		return false
	}
	k, sd := float64(e.delayRate)/1000, e.capacitySD()
	return k > e.capacity-3*sd && k < e.capacity+3*sd
}

// applyFloor keeps the estimate at or above what is flowing while nothing
// is lost and no queue builds: the link demonstrably carries it, and an
// estimate below it would stop video that fits.
func (e *Estimator) applyFloor() {
	loss, ok := e.loss.fraction()
	if !ok || loss >= e.cfg.LossLow || e.delay.usage == UsageOver {
		return
	}
	if acked := e.acked.rate(); acked > e.Target() {
		e.delayRate = max(e.delayRate, acked)
		e.lossRate = max(e.lossRate, acked)
	}
}

// updateLossRate bounds the estimate by loss: shrink on heavy loss, never
// below what was delivered; grow back while loss is low.
func (e *Estimator) updateLossRate(t time.Duration) {
	frac, ok := e.loss.fraction()
	if !ok {
		return
	}
	switch {
	case frac > e.cfg.LossHigh:
		if t-e.lastLossDecrease < 300*time.Millisecond+e.rtt {
			return
		}
		cur := min(e.delayRate, e.lossRate)
		next := int64(float64(cur) * (1 - 0.5*frac))
		if acked := e.acked.rate(); acked > 0 {
			// What got through is what the link carries: a collapse
			// below it would stop video that fits.
			next = max(next, acked*9/10)
		}
		e.lossRate = max(min(next, cur), e.cfg.Min)
		e.lastLossDecrease, e.proven = t, true
	case frac < e.cfg.LossLow:
		if e.lossRate >= e.cfg.Max {
			return
		}
		dt := e.elapsed(t)
		next := int64(float64(e.lossRate)*math.Pow(1.08, dt)) + int64(1000*dt)
		if next >= e.delayRate {
			next = e.cfg.Max // loss no longer binds
		}
		e.lossRate = min(next, e.cfg.Max)
	}
}

// limitedRaiseMargin (per cent of the estimate) is how far a link's
// measurement must exceed the estimate to raise it.
const limitedRaiseMargin = 110

// applyProbe takes what a probe proved. A link that kept up with the burst
// carries at least its target; one that did not was measured, and the
// estimate moves to just under that measurement — down too, while the
// estimate is still the initial guess. After a probe that found the link
// short, a reading that would raise the estimate is held (p.Held) until the
// next probe confirms it. A measurement raises an estimate only by more
// than limitedRaiseMargin: readings of one link scatter by several per
// cent, and taking each higher one ratcheted the estimate of a 400 kbit/s
// link from 358 to 377 kbps in 6 s, past what h plus audio needs, and the
// subscriber stepped up into a freeze (real Chromium, CI).
func (e *Estimator) applyProbe(p *ProbeResult) {
	rate, bar := p.Rate, e.Target() // a reading must beat bar to raise the estimate
	if p.Limited {
		rate = p.Rate * 9 / 10
		if e.proven {
			bar = bar * limitedRaiseMargin / 100
		}
	}
	guess := p.Limited && !e.proven // a measurement replaces the initial guess, down too
	switch {
	case rate <= 0 || (rate <= bar && !guess):
		e.candidate = 0
	case e.doubted && e.candidate == 0:
		e.candidate, p.Held = rate, true
	default:
		if e.candidate > 0 {
			rate = min(rate, e.candidate) // the lower of the two readings
		}
		e.candidate = 0
		switch {
		case guess:
			e.delayRate = max(min(rate, e.cfg.Max), e.cfg.Min)
			e.lossRate = max(e.lossRate, e.delayRate)
			e.proven = true
		case rate > bar:
			e.delayRate = min(rate, e.cfg.Max)
			e.lossRate = max(e.lossRate, e.delayRate)
			e.proven = true
		}
	}
	if !p.Held {
		e.doubted = p.Limited
	}
	e.lastProbe = *p
}

// Target is the estimate (bps).
func (e *Estimator) Target() int64 {
	return min(max(min(e.delayRate, e.lossRate), e.cfg.Min), e.cfg.Max)
}

// Stats describes the estimate.
func (e *Estimator) Stats() Stats {
	loss, ok := e.loss.fraction()
	return Stats{
		Target:   e.Target(),
		Acked:    e.acked.rate(),
		Loss:     loss,
		LossOK:   ok,
		Usage:    e.delay.usage,
		Proven:   e.proven,
		Trend:    e.delay.trend,
		Gate:     e.delay.growth(),
		Capacity: int64(e.capacity * 1000),
	}
}

// LastProbe is the most recent probe result.
func (e *Estimator) LastProbe() ProbeResult { return e.lastProbe }
