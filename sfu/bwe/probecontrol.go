package bwe

import "time"

// ProbeConfig tunes when and how hard a subscriber is probed.
type ProbeConfig struct {
	// Interval is the wait after a probe that found the link short;
	// it doubles after each such probe up to MaxInterval, so a link at its
	// limit is probed rarely, and resets after a probe that succeeds.
	Interval, MaxInterval time.Duration
	// Aftermath: no probe this soon after congestion was seen.
	Aftermath time.Duration
	// Margin is how far above the wanted rate a probe aims, so that what
	// it proves leaves the layers their headroom.
	Margin float64
	// Duration is how long the cluster's bytes would take at its target
	// rate: the dispersion to measure. PaddingSize is the size of one
	// padding packet's payload.
	Duration    time.Duration
	PaddingSize int
	// Max caps a probe's target (the estimator's Max).
	Max int64
}

// DefaultProbeConfig probes a link that got better within a few seconds
// at a cost of a few kilobytes per probe.
func DefaultProbeConfig() ProbeConfig {
	return ProbeConfig{
		Interval:    time.Second,
		MaxInterval: 3 * time.Second,
		Aftermath:   2 * time.Second,
		Margin:      1.25,
		Duration:    10 * time.Millisecond,
		PaddingSize: 255,
		Max:         20_000_000,
	}
}

// ProbeInputs is what the controller sees of a subscriber at a decision.
type ProbeInputs struct {
	Estimate int64 // the estimator's target
	// Desired is what the subscriber would receive at the best layers its
	// preferences allow, with headroom: the rate worth proving.
	Desired int64
	// Ready: a video stream is flowing that padding can follow.
	Ready bool
	// Congested: the estimator sees overuse or heavy loss now.
	Congested bool
}

// Probe is a cluster to send: Packets padding packets of PaddingSize,
// back to back, stamped with ID.
type Probe struct {
	ID      int
	Target  int64
	Packets int
}

// ProbeController decides when a subscriber is probed. Pure: time comes in
// as arguments. Not safe for concurrent use.
type ProbeController struct {
	cfg         ProbeConfig
	started     bool
	next        time.Time
	backoff     time.Duration
	lastID      int
	inFlight    int
	flightEnd   time.Time
	congestedAt time.Time
	lastDesired int64
}

// NewProbeController returns a controller that probes as soon as a stream
// is ready.
func NewProbeController(cfg ProbeConfig) *ProbeController {
	return &ProbeController{cfg: cfg, backoff: cfg.Interval}
}

// minProbeGap keeps probes from following each other faster than their
// feedback can come back.
const minProbeGap = 250 * time.Millisecond

// minClusterPackets is the smallest cluster sent: enough that its later
// half, which the tracker measures, comes after a token bucket's burst of
// a packet or two (see laterHalfSpan). About 3.8 kB on the wire: 120 ms of
// a 250 kbit/s link, once per probe.
const minClusterPackets = 2*MinProbePackets + 2

// Decide returns the cluster to send now, if any.
func (p *ProbeController) Decide(now time.Time, in ProbeInputs) (Probe, bool) {
	if in.Congested {
		p.congestedAt = now
	}
	desired := in.Desired
	// The wanted rate jumped (a cap lifted, a track resumed or arrived):
	// find out at once rather than after the backoff.
	if p.lastDesired > 0 && desired > p.lastDesired*6/5 {
		p.next = minTime(p.next, now)
		p.backoff = p.cfg.Interval
	}
	p.lastDesired = desired
	switch {
	case in.Congested, !in.Ready, desired <= in.Estimate:
		return Probe{}, false
	case p.inFlight != 0 && now.Before(p.flightEnd):
		return Probe{}, false
	case p.started && now.Before(p.next):
		return Probe{}, false
	case !p.congestedAt.IsZero() && now.Sub(p.congestedAt) < p.cfg.Aftermath:
		return Probe{}, false
	}
	target := min(int64(float64(desired)*p.cfg.Margin), p.cfg.Max)
	bytes := int(float64(target) * p.cfg.Duration.Seconds() / 8)
	packets := min(max((bytes+p.cfg.PaddingSize-1)/p.cfg.PaddingSize, minClusterPackets), MaxProbePackets)
	p.lastID = p.lastID%MaxProbeCluster + 1
	p.started = true
	p.inFlight, p.flightEnd = p.lastID, now.Add(probeTimeout+minProbeGap)
	p.next = now.Add(minProbeGap)
	return Probe{ID: p.lastID, Target: target, Packets: packets}, true
}

// OnResult takes a finished cluster's result.
func (p *ProbeController) OnResult(now time.Time, r ProbeResult) {
	if r.ID != p.inFlight {
		return
	}
	p.inFlight = 0
	if r.Held {
		p.next = now.Add(minProbeGap)
		return
	}
	if !r.Limited {
		p.backoff = p.cfg.Interval
		p.next = now.Add(minProbeGap)
		return
	}
	p.next = now.Add(p.backoff)
	p.backoff = min(2*p.backoff, p.cfg.MaxInterval)
}

// Cancel forgets a cluster that could not be sent.
func (p *ProbeController) Cancel(id int) {
	if id == p.inFlight {
		p.inFlight = 0
	}
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
