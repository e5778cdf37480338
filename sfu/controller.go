package sfu

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu/signal"
	"github.com/surgertc/surge/simulcast"
)

// controller is one subscriber's congestion control: every BWE.Interval it
// reads the subscriber's bandwidth estimate (GCC from transport-wide-cc
// feedback, or a loss-based estimate from receiver reports when the client
// did not negotiate transport-wide-cc), splits it across the video tracks
// the subscriber receives (simulcast.Allocator), lets each DownTrack's
// Selector pick a layer, and keeps asking for the keyframes pending switches
// wait for. It runs off the packet path: the forwarders only see SetTarget.
type controller struct {
	p     *Participant
	cfg   BWEConfig
	m     *metrics.SFU
	est   cc.BandwidthEstimator // nil if GCC is not available
	loss  *simulcast.LossEstimator
	alloc *simulcast.Allocator

	done chan struct{}
	once sync.Once

	lastEstimate atomic.Int64 // for snapshots

	// Owned by the run goroutine.
	downs     []*DownTrack
	videos    []*DownTrack
	demands   []simulcast.TrackDemand
	budgets   []int64
	state     map[*DownTrack]*trackState
	sdp       *webrtc.SessionDescription
	twcc      bool
	rrSeen    uint64
	estimate  int64
	lastEvent time.Time
	eventBps  int64

	// Probing: the floor is a rate a probe showed the link carries; the
	// estimate handed to the allocator is never below it until the link
	// shows congestion.
	floor      int64
	need       int64 // what the current layers cost, with up headroom
	videoNeed  int64 // the video part of need: 0 while no video layer is chosen
	probing    *DownTrack
	probeLayer int       // the layer being probed
	probeFloor int64     // the floor before the probe, restored if it fails
	failed     int       // layer of the last failed probe, -1 none
	aftermath  time.Time // until then, congestion is the failed probe's, not the link's
	nextProbe  time.Time
	backoff    time.Duration
}

// trackState is what the controller last reported for a DownTrack, so
// gauges and client events change only on change.
type trackState struct {
	layer  int  // last announced forwarded layer
	paused bool // counted in the paused-tracks gauge
}

func newController(p *Participant, est cc.BandwidthEstimator) *controller {
	cfg := p.srv.cfg.BWE
	return &controller{
		p:        p,
		cfg:      cfg,
		m:        p.srv.m,
		est:      est,
		loss:     simulcast.NewLossEstimator(int64(cfg.InitialBitrate), int64(cfg.MinBitrate), int64(cfg.MaxBitrate)),
		alloc:    simulcast.NewAllocator(p.srv.cfg.Simulcast),
		done:     make(chan struct{}),
		state:    map[*DownTrack]*trackState{},
		estimate: int64(cfg.InitialBitrate),
		backoff:  p.srv.cfg.Simulcast.ProbeInterval,
		failed:   -1,
		// No probe before the estimate had a chance to settle.
		nextProbe: time.Now().Add(p.srv.cfg.Simulcast.ProbeInterval),
	}
}

func (c *controller) stop() { c.once.Do(func() { close(c.done) }) }

func (c *controller) run() {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	defer c.forgetAll()
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			c.tick(now)
		}
	}
}

func (c *controller) tick(now time.Time) {
	c.downs = c.p.downTracks(c.downs)
	c.p.noteMediaSent(c.downs)
	slices.SortFunc(c.downs, func(a, b *DownTrack) int { return cmp.Compare(a.order, b.order) })
	c.videos = c.videos[:0]
	c.demands = c.demands[:0]
	audio := 0
	for _, d := range c.downs {
		if d.kind != webrtc.RTPCodecTypeVideo {
			audio++
			continue
		}
		c.videos = append(c.videos, d)
		c.demands = append(c.demands, simulcast.TrackDemand{
			LayerBitrates: d.receiver.bitrates(now),
			MaxLayer:      int(d.maxLayer.Load()),
			Visible:       d.visible.Load(),
			Current:       d.selector.Layer(),
		})
	}
	est := c.readEstimate(now)
	if c.congested() {
		if c.probing != nil {
			// The probe found the limit: back to what was proven before.
			c.floor = c.probeFloor
			c.probing.selector.EndProbe()
			c.endProbe(now, false)
		} else if now.After(c.aftermath) {
			c.floor = 0 // the link got worse: nothing is proven any more
		}
	}
	c.checkProbe(now)
	// While the subscriber is sent less than its link may carry, GCC keeps
	// raising its estimate without evidence; acting on that guess puts a
	// higher layer on a link that cannot carry it. Higher layers are
	// reached by probes instead, and the estimate is capped at 1.5x what
	// is being sent (GCC's own bound when it has evidence).
	// Not before any video layer was chosen: at the start (layers not yet
	// measured) or when paused, the estimate itself decides.
	if c.videoNeed > 0 {
		est = min(est, max(c.floor, c.need*3/2))
	}
	c.estimate = max(est, c.floor)
	c.lastEstimate.Store(c.estimate)
	c.budgets = c.alloc.Allocate(c.estimate, audio, c.demands, c.budgets)
	scfg := &c.p.srv.cfg.Simulcast
	c.need, c.videoNeed = int64(audio)*scfg.AudioReserve, 0
	for i, d := range c.videos {
		in := c.inputs(i, d)
		dec := d.selector.Decide(in, now)
		if dec.Changed {
			d.setTarget(dec.Layer, now)
			c.countSwitch(dec)
		}
		d.keyframeRequest(now)
		c.report(d)
		if l := dec.Layer; l >= 0 {
			c.videoNeed += int64(float64(in.LayerBitrates[l]) * scfg.UpHeadroom)
		}
	}
	c.need += c.videoNeed
	c.startProbe(now)
	c.forgetGone()
	c.sendEstimate(now)
}

// inputs is what track i's Selector sees this tick.
func (c *controller) inputs(i int, d *DownTrack) simulcast.Inputs {
	return simulcast.Inputs{
		LayerBitrates: c.demands[i].LayerBitrates,
		Budget:        c.budgets[i],
		Loss:          float64(d.fracLost.Load()) / 256,
		MaxLayer:      c.demands[i].MaxLayer,
		Visible:       c.demands[i].Visible,
	}
}

// congested reports whether the subscriber's link shows congestion now:
// GCC's delay detector says overuse, or loss is high. It ends a probe and
// the floor it earned.
func (c *controller) congested() bool {
	high := c.p.srv.cfg.Simulcast.HighLoss
	for _, d := range c.videos {
		if float64(d.fracLost.Load())/256 > high {
			return true
		}
	}
	if c.est == nil || !c.twcc {
		return false
	}
	st := c.est.GetStats()
	if fmt.Sprint(st["usage"]) == "overuse" {
		return true
	}
	loss, _ := st["averageLoss"].(float64)
	return loss > high
}

// checkProbe ends a probe whose hold passed without congestion: a success,
// so the floor rises to what the layers cost during the probe (c.need from
// the last tick) before this tick's budget is allocated.
func (c *controller) checkProbe(now time.Time) {
	if c.probing == nil || c.probing.selector.Probing(now) {
		return
	}
	if slices.Contains(c.videos, c.probing) {
		// With a little slack: layer bitrates wobble, and a floor that
		// only just covers the layers would drop one at the next wobble.
		c.floor = max(c.floor, c.need*11/10)
	}
	c.endProbe(now, true)
}

// startProbe raises a track held below its top layer by the estimate, once
// the wait since the last probe has passed.
func (c *controller) startProbe(now time.Time) {
	scfg := &c.p.srv.cfg.Simulcast
	if c.probing != nil || now.Before(c.nextProbe) {
		return
	}
	for i, d := range c.videos {
		in := c.inputs(i, d)
		if !d.selector.Decided() || !c.budgetLimited(d, in) {
			continue
		}
		dec := d.selector.Probe(in, now)
		if !dec.Changed {
			continue
		}
		d.setTarget(dec.Layer, now)
		c.m.LayerSwitches(metrics.Up, metrics.SwitchBandwidth).Inc()
		c.p.log.Debug("probing a higher layer", "track", d.id, "from", dec.From, "to", dec.Layer, "estimate", c.estimate)
		c.probing, c.probeLayer, c.probeFloor = d, dec.Layer, c.floor
		return
	}
	c.nextProbe = now.Add(scfg.ProbeInterval)
}

// budgetLimited reports whether the budget, not the publisher or the
// subscriber's preference, keeps d below a higher layer.
func (c *controller) budgetLimited(d *DownTrack, in simulcast.Inputs) bool {
	cur := d.selector.Layer()
	for l := cur + 1; l <= min(in.MaxLayer, maxLayers-1); l++ {
		if in.LayerBitrates[l] > 0 {
			return in.Visible && float64(in.Budget) < float64(in.LayerBitrates[l])*c.p.srv.cfg.Simulcast.UpHeadroom
		}
	}
	return false
}

// endProbe schedules the next probe. A failure quadruples the wait (up to
// ProbeMaxInterval), so a link at its limit is soon probed rarely: each
// failed probe costs it about a second of congestion; a success
// looks for the next layer soon, and resets the wait once it gets past the
// layer that failed last (the link got better).
func (c *controller) endProbe(now time.Time, ok bool) {
	scfg := &c.p.srv.cfg.Simulcast
	wait := scfg.ProbeInterval / 2
	if ok {
		if c.probeLayer >= c.failed {
			c.backoff, c.failed = scfg.ProbeInterval, -1
		}
	} else {
		c.backoff = min(4*c.backoff, scfg.ProbeMaxInterval)
		c.failed = c.probeLayer
		wait = c.backoff
		// The probe layer keeps flowing until the lower layer's keyframe,
		// and the queue it built takes a moment to drain.
		c.aftermath = now.Add(2 * time.Second)
	}
	c.p.log.Debug("probe ended", "track", c.probing.id, "layer", c.probeLayer, "success", ok, "floor", c.floor, "next_in", wait)
	c.probing = nil
	c.nextProbe = now.Add(wait)
}

// readEstimate is GCC's estimate when the subscriber sends transport-wide-cc
// feedback, else the loss-based one, fed once per new receiver report.
func (c *controller) readEstimate(now time.Time) int64 {
	if c.est != nil && c.negotiatedTWCC() {
		return int64(c.est.GetTargetBitrate())
	}
	var reports uint64
	var worst uint32
	for _, d := range c.downs {
		reports += d.rrCount.Load()
		worst = max(worst, d.fracLost.Load())
	}
	if reports != c.rrSeen {
		c.rrSeen = reports
		c.loss.Update(float64(worst)/256, now)
	}
	return c.loss.Estimate()
}

func (c *controller) negotiatedTWCC() bool {
	c.p.mu.Lock()
	pc := c.p.subPC
	c.p.mu.Unlock()
	sd := pc.CurrentRemoteDescription()
	if sd != c.sdp {
		c.sdp = sd
		c.twcc = sd != nil && strings.Contains(sd.SDP, "transport-wide-cc")
	}
	return c.twcc
}

var switchReasons = map[simulcast.Reason]metrics.SwitchReason{
	simulcast.ReasonBandwidth:  metrics.SwitchBandwidth,
	simulcast.ReasonUpgrade:    metrics.SwitchBandwidth,
	simulcast.ReasonResume:     metrics.SwitchBandwidth,
	simulcast.ReasonProbe:      metrics.SwitchBandwidth,
	simulcast.ReasonLoss:       metrics.SwitchLoss,
	simulcast.ReasonPreference: metrics.SwitchPreference,
	simulcast.ReasonInvisible:  metrics.SwitchPreference,
	simulcast.ReasonLayerLost:  metrics.SwitchLayerUnavailable,
}

func (c *controller) countSwitch(dec simulcast.Decision) {
	r, ok := switchReasons[dec.Reason]
	if !ok { // the first decision is a start, not a switch
		return
	}
	dir := metrics.Down
	if dec.Up() {
		dir = metrics.Up
	}
	c.m.LayerSwitches(dir, r).Inc()
}

// report updates gauges and tells the client when a track's forwarded
// layer changed.
func (c *controller) report(d *DownTrack) {
	st := c.state[d]
	if st == nil {
		st = &trackState{layer: simulcast.LayerPaused}
		c.state[d] = st
	}
	paused := d.selector.Layer() == simulcast.LayerPaused && d.selector.Decided()
	if paused != st.paused {
		st.paused = paused
		if paused {
			c.m.SimulcastPausedTracks().Inc()
		} else {
			c.m.SimulcastPausedTracks().Dec()
		}
	}
	cur := int(d.curLayer.Load())
	if cur == st.layer {
		return
	}
	if st.layer >= 0 {
		c.m.CurrentLayer(metrics.Layer(st.layer)).Dec()
	}
	if cur >= 0 {
		c.m.CurrentLayer(metrics.Layer(cur)).Inc()
	}
	st.layer = cur
	isPaused := cur < 0
	c.p.send(signal.Message{Type: signal.TypeLayer, TrackID: d.id, Layer: signal.LayerName(cur), Paused: &isPaused})
}

// forgetGone drops the state of tracks no longer subscribed.
func (c *controller) forgetGone() {
	if len(c.state) == len(c.videos) {
		return
	}
	for d := range c.state {
		if !slices.Contains(c.videos, d) {
			c.forget(d)
		}
	}
}

func (c *controller) forgetAll() {
	for d := range c.state {
		c.forget(d)
	}
}

func (c *controller) forget(d *DownTrack) {
	st := c.state[d]
	if st.layer >= 0 {
		c.m.CurrentLayer(metrics.Layer(st.layer)).Dec()
	}
	if st.paused {
		c.m.SimulcastPausedTracks().Dec()
	}
	delete(c.state, d)
}

// sendEstimate exports the estimate and tells the client when it moved by
// more than 10 %, at most once per EventInterval.
func (c *controller) sendEstimate(now time.Time) {
	if now.Sub(c.lastEvent) < c.cfg.EventInterval {
		return
	}
	c.m.BandwidthEstimate().Observe(float64(c.estimate))
	diff := c.estimate - c.eventBps
	if diff < 0 {
		diff = -diff
	}
	if c.eventBps != 0 && diff*10 < c.eventBps {
		return
	}
	c.lastEvent, c.eventBps = now, c.estimate
	c.p.log.Debug("subscriber bandwidth estimate", "bps", c.estimate, "twcc", c.twcc)
	c.p.send(signal.Message{Type: signal.TypeBandwidth, BitrateBps: c.estimate})
}
