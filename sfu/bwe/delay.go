package bwe

import "time"

// Usage is what the delay-based detector concludes about the path.
type Usage uint8

// Usages.
const (
	UsageNormal Usage = iota
	UsageOver         // a queue is building: the sender exceeds the path
	UsageUnder        // a queue is draining
)

func (u Usage) String() string {
	switch u {
	case UsageOver:
		return "overuse"
	case UsageUnder:
		return "underuse"
	}
	return "normal"
}

// Packet groups: packets sent within groupSpan of a group's first belong to
// it (a frame's packets), and so do packets that arrive in a burst with it
// (a receiver that reads late in batches stamps them together).
const (
	groupSpan      = 5 * time.Millisecond
	burstSpan      = 5 * time.Millisecond
	maxBurstLength = 100 * time.Millisecond
	// A jump this large in the delay between two groups is a clock or
	// route change, not a queue: start over.
	resetJump = 3 * time.Second
)

type group struct {
	firstSend, lastSend       time.Duration
	firstArrival, lastArrival time.Duration
	size                      int
}

// delayDetector turns packet results into a usage verdict: the trendline
// of the accumulated one-way delay variation between packet groups, against
// a threshold that adapts to the path's noise (draft-ietf-rmcat-gcc and
// libwebrtc's TrendlineEstimator), plus a gate of its own: overuse also
// needs the delay to have grown by QueueGate over the trend window, so that
// delay noise whose average does not grow (a busy sender or receiver
// stamping late in bursts) never reads as a queue.
type delayDetector struct {
	cfg Config

	cur, prev   group
	haveCur     bool
	havePrev    bool
	firstArrive time.Duration

	numDeltas   int
	accumulated float64 // ms
	smoothed    float64 // ms
	// The trend window: arrival time (ms since first) and smoothed delay.
	xs, ys    [trendWindow]float64
	n, head   int
	trend     float64
	prevTrend float64

	threshold      float64
	lastThreshold  time.Duration
	haveThreshold  bool
	overTime       float64 // ms spent over the threshold; -1 not over
	overCount      int
	usage          Usage
	usageChangedAt time.Duration
}

const (
	trendWindow     = 20
	trendSmoothing  = 0.9
	trendGain       = 4.0
	thresholdStart  = 12.5
	thresholdMin    = 6
	thresholdMax    = 600
	thresholdUp     = 0.0087
	thresholdDown   = 0.039
	maxAdaptOffset  = 15
	maxDeltasCount  = 60
	maxThresholdGap = 100 // ms of adaptation at most per update
)

func newDelayDetector(cfg Config) *delayDetector {
	return &delayDetector{cfg: cfg, threshold: thresholdStart, overTime: -1}
}

// add feeds one received packet, in feedback order.
func (d *delayDetector) add(r *PacketResult) {
	if !d.haveCur {
		d.cur = group{firstSend: r.SendTime, lastSend: r.SendTime, firstArrival: r.Arrival, lastArrival: r.Arrival, size: r.Size}
		d.haveCur, d.firstArrive = true, r.Arrival
		return
	}
	if r.SendTime < d.cur.firstSend {
		return // sent before the group in progress: reordered, ignore
	}
	if d.belongs(r) {
		d.cur.lastSend = max(d.cur.lastSend, r.SendTime)
		d.cur.lastArrival = max(d.cur.lastArrival, r.Arrival)
		d.cur.size += r.Size
		return
	}
	if d.havePrev {
		sendDelta := d.cur.lastSend - d.prev.lastSend
		arrivalDelta := d.cur.lastArrival - d.prev.lastArrival
		if jump := arrivalDelta - sendDelta; jump > resetJump || jump < -resetJump || arrivalDelta < 0 {
			d.reset()
		} else {
			d.update(sendDelta, arrivalDelta, d.cur.lastArrival)
		}
	}
	d.prev, d.havePrev = d.cur, true
	d.cur = group{firstSend: r.SendTime, lastSend: r.SendTime, firstArrival: r.Arrival, lastArrival: r.Arrival, size: r.Size}
}

func (d *delayDetector) belongs(r *PacketResult) bool {
	if r.SendTime-d.cur.firstSend <= groupSpan {
		return true
	}
	arrivalDelta := r.Arrival - d.cur.lastArrival
	propagation := arrivalDelta - (r.SendTime - d.cur.lastSend)
	return propagation < 0 && arrivalDelta <= burstSpan && r.Arrival-d.cur.firstArrival < maxBurstLength
}

func (d *delayDetector) reset() {
	*d = delayDetector{cfg: d.cfg, threshold: d.threshold, overTime: -1, usage: UsageNormal}
}

func ms(t time.Duration) float64 { return float64(t) / float64(time.Millisecond) }

// update runs the trendline over one more group delta.
func (d *delayDetector) update(sendDelta, arrivalDelta, arrival time.Duration) {
	delta := ms(arrivalDelta - sendDelta)
	d.numDeltas = min(d.numDeltas+1, 1000)
	d.accumulated += delta
	d.smoothed = trendSmoothing*d.smoothed + (1-trendSmoothing)*d.accumulated
	x := ms(arrival - d.firstArrive)
	if d.n < trendWindow {
		d.xs[(d.head+d.n)%trendWindow], d.ys[(d.head+d.n)%trendWindow] = x, d.smoothed
		d.n++
	} else {
		d.xs[d.head], d.ys[d.head] = x, d.smoothed
		d.head = (d.head + 1) % trendWindow
	}
	if d.n == trendWindow {
		if s, ok := d.slope(); ok {
			d.trend = s
		}
	}
	d.detect(ms(sendDelta), arrival)
}

// slope is the least-squares slope of the window (ms of delay per ms).
func (d *delayDetector) slope() (float64, bool) {
	var sx, sy float64
	for i := 0; i < d.n; i++ {
		sx += d.xs[i]
		sy += d.ys[i]
	}
	mx, my := sx/float64(d.n), sy/float64(d.n)
	var num, den float64
	for i := 0; i < d.n; i++ {
		num += (d.xs[i] - mx) * (d.ys[i] - my)
		den += (d.xs[i] - mx) * (d.xs[i] - mx)
	}
	if den == 0 {
		return 0, false
	}
	return num / den, true
}

// growth is how much the smoothed delay rose across the window: the
// newest value above the window's lowest.
func (d *delayDetector) growth() float64 {
	if d.n == 0 {
		return 0
	}
	newest := d.ys[(d.head+d.n-1)%trendWindow]
	low := newest
	for i := 0; i < d.n; i++ {
		low = min(low, d.ys[i])
	}
	return newest - low
}

func (d *delayDetector) detect(sendDeltaMS float64, now time.Duration) {
	if d.numDeltas < 2 {
		d.setUsage(UsageNormal, now)
		return
	}
	mt := float64(min(d.numDeltas, maxDeltasCount)) * d.trend * trendGain
	switch {
	case mt > d.threshold && d.growth() >= ms(d.cfg.QueueGate):
		if d.overTime < 0 {
			d.overTime = sendDeltaMS / 2
		} else {
			d.overTime += sendDeltaMS
		}
		d.overCount++
		if d.overTime > ms(d.cfg.OveruseTime) && d.overCount > 1 && d.trend >= d.prevTrend {
			d.overTime, d.overCount = 0, 0
			d.setUsage(UsageOver, now)
		}
	case mt > d.threshold:
		// A trend without a grown queue: noise. Neither over nor under.
		d.overTime, d.overCount = -1, 0
		d.setUsage(UsageNormal, now)
	case mt < -d.threshold:
		d.overTime, d.overCount = -1, 0
		d.setUsage(UsageUnder, now)
	default:
		d.overTime, d.overCount = -1, 0
		d.setUsage(UsageNormal, now)
	}
	d.prevTrend = d.trend
	d.adapt(mt, now)
}

func (d *delayDetector) setUsage(u Usage, now time.Duration) {
	if u != d.usage {
		d.usage, d.usageChangedAt = u, now
	}
}

// adapt moves the threshold toward |mt|: up slowly, down faster, so that a
// noisy path needs a stronger trend to count as overuse.
func (d *delayDetector) adapt(mt float64, now time.Duration) {
	if !d.haveThreshold {
		d.lastThreshold, d.haveThreshold = now, true
	}
	abs := mt
	if abs < 0 {
		abs = -abs
	}
	if abs > d.threshold+maxAdaptOffset {
		d.lastThreshold = now
		return
	}
	k := thresholdUp
	if abs < d.threshold {
		k = thresholdDown
	}
	dt := min(ms(now-d.lastThreshold), maxThresholdGap)
	d.threshold = min(max(d.threshold+k*(abs-d.threshold)*dt, thresholdMin), thresholdMax)
	d.lastThreshold = now
}
