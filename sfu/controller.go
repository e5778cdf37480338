package sfu

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu/bwe"
	"github.com/surgertc/surge/sfu/signal"
	"github.com/surgertc/surge/simulcast"
)

// controller is one subscriber's congestion control: every BWE.Interval it
// reads the subscriber's bandwidth estimate (sfu/bwe fed by transport-wide-cc
// feedback, or a loss-based estimate from receiver reports when the client
// did not negotiate transport-wide-cc), splits it across the video tracks
// the subscriber receives (simulcast.Allocator), lets each DownTrack's
// Selector pick a layer, keeps asking for the keyframes pending switches
// wait for, starts probe clusters when the subscriber is held below what it
// could use, and sends the sender reports. The decisions are the pure types'
// (bwe.Estimator, bwe.ProbeController, simulcast.Allocator and Selector);
// this is their wiring, off the packet path: the forwarders only see
// SetTarget and probe requests.
type controller struct {
	p     *Participant
	cfg   BWEConfig
	m     *metrics.SFU
	loss  *simulcast.LossEstimator
	alloc *simulcast.Allocator

	done chan struct{}
	once sync.Once

	lastEstimate atomic.Int64 // for snapshots

	// Owned by the run goroutine.
	downs      []*DownTrack
	videos     []*DownTrack
	demands    []simulcast.TrackDemand
	budgets    []int64
	state      map[*DownTrack]*trackState
	sdp        *webrtc.SessionDescription
	twcc       bool
	rrSeen     uint64
	estimate   int64
	proven     bool
	lastEvent  time.Time
	eventBps   int64
	videoSince time.Time // first tick with video to forward
	lastSR     time.Time
	srv        []rtcp.SenderReport
	srs        []rtcp.Packet            // srv for Pion's writer
	srBuf      [maxPacketSize - 64]byte // the fast path's compound SR, sealed into at most maxPacketSize
}

// trackState is what the controller last reported for a DownTrack, so
// gauges and client events change only on change.
type trackState struct {
	layer  int  // last announced forwarded layer
	paused bool // counted in the paused-tracks gauge
}

// startCap is how long a subscriber with transport-wide-cc stays on its
// lowest layers before its estimate is proven (by the first probe, which
// normally answers within a few hundred milliseconds): a weak link is not
// flooded with layers it cannot carry while the estimate is a guess.
const startCap = 3 * time.Second

func newController(p *Participant) *controller {
	cfg := p.srv.cfg.BWE
	return &controller{
		p:        p,
		cfg:      cfg,
		m:        p.srv.m,
		loss:     simulcast.NewLossEstimator(int64(cfg.InitialBitrate), int64(cfg.MinBitrate), int64(cfg.MaxBitrate)),
		alloc:    simulcast.NewAllocator(p.srv.cfg.Simulcast),
		done:     make(chan struct{}),
		state:    map[*DownTrack]*trackState{},
		estimate: int64(cfg.InitialBitrate),
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
	scfg := &c.p.srv.cfg.Simulcast
	c.downs = c.p.downTracks(c.downs)
	c.p.noteMediaSent(c.downs)
	slices.SortFunc(c.downs, func(a, b *DownTrack) int { return cmp.Compare(a.order, b.order) })
	c.videos = c.videos[:0]
	c.demands = c.demands[:0]
	var audio int64
	for _, d := range c.downs {
		if d.kind != webrtc.RTPCodecTypeVideo {
			// Audio is charged what it measures (Opus runs well under the
			// configured reserve), the reserve until it is measured.
			rate := d.receiver.bitrates(now)[0]
			if rate <= 1 {
				rate = scfg.AudioReserve
			}
			audio += rate
			continue
		}
		c.videos = append(c.videos, d)
		rates := d.receiver.bitrates(now)
		c.demands = append(c.demands, simulcast.TrackDemand{
			LayerBitrates: rates,
			UpBitrates:    d.selector.HoldRates(rates, now),
			MaxLayer:      int(d.maxLayer.Load()),
			Visible:       d.visible.Load(),
			Current:       d.selector.Layer(),
		})
	}
	est, congested := c.readEstimate(now)
	if len(c.videos) > 0 && c.videoSince.IsZero() {
		c.videoSince = now
	}
	if c.twcc && !c.proven && now.Sub(c.videoSince) < startCap {
		est = min(est, audio+c.lowestNeed())
	}
	c.estimate = est
	c.lastEstimate.Store(est)
	c.budgets = c.alloc.Allocate(est, audio, c.demands, c.budgets)
	for i, d := range c.videos {
		in := c.inputs(i, d)
		dec := d.selector.Decide(in, now)
		if dec.Changed {
			d.setTarget(dec.Layer, dec.Drain, now)
			c.countSwitch(dec)
		}
		d.keyframeRequest(now)
		c.report(d)
	}
	c.probe(now, est, audio, congested)
	c.senderReports(now)
	c.forgetGone()
	c.sendEstimate(now)
}

// lowestNeed is what the video tracks cost on their lowest live layers,
// charged as the Allocator charges reaching a layer (the held peak rate
// with UpHeadroom): a cap below that would leave a paused track paused.
func (c *controller) lowestNeed() int64 {
	var need int64
	for i := range c.demands {
		t := &c.demands[i]
		for l := 0; l < maxLayers; l++ {
			if t.LayerBitrates[l] > 0 {
				need += c.alloc.ReachCost(t, l)
				break
			}
		}
	}
	return need
}

// desired is what the subscriber would receive on the best layers its
// preferences allow, with the headroom an upgrade needs: the rate worth
// proving.
func (c *controller) desired(audio int64) int64 {
	want := audio
	for i := range c.demands {
		t := &c.demands[i]
		if !t.Visible || t.MaxLayer < 0 {
			continue
		}
		for l := min(t.MaxLayer, maxLayers-1); l >= 0; l-- {
			if t.LayerBitrates[l] > 0 {
				want += c.alloc.ReachCost(t, l)
				break
			}
		}
	}
	return want
}

// probe starts a probe cluster when the probe controller says so, on the
// video track whose frames flow on the highest layer, after its frame in
// flight; or, when all video is paused, at once on a paused track.
func (c *controller) probe(now time.Time, est, audio int64, congested bool) {
	if !c.twcc || c.p.dl == nil {
		return
	}
	var carrier, paused *DownTrack
	for _, d := range c.videos {
		l := d.curLayer.Load()
		switch {
		case l >= 0 && (carrier == nil || l > carrier.curLayer.Load()):
			carrier = d
		case l < 0 && paused == nil && d.selector.Decided():
			paused = d
		}
	}
	in := bwe.ProbeInputs{Estimate: est, Desired: c.desired(audio), Ready: carrier != nil || paused != nil, Congested: congested}
	p, ok := c.p.dl.decideProbe(now, in)
	switch {
	case !ok:
	case carrier != nil:
		carrier.requestProbe(p)
	default:
		paused.probePaused(p, now)
	}
}

// senderReports sends each track's RTCP sender report once a second, so
// that receivers can sync audio and video and compute round-trip times:
// marshalled and sealed in place on the fast path, through Pion otherwise.
func (c *controller) senderReports(now time.Time) {
	if now.Sub(c.lastSR) < time.Second {
		return
	}
	c.lastSR = now
	c.srv = c.srv[:0]
	for _, d := range c.downs {
		if sr, ok := d.senderReport(now); ok {
			c.srv = append(c.srv, sr)
		}
	}
	if len(c.srv) == 0 || c.sendSRsFast() {
		return
	}
	c.srs = c.srs[:0]
	for i := range c.srv {
		c.srs = append(c.srs, &c.srv[i])
	}
	c.p.mu.Lock()
	pc := c.p.subPC
	c.p.mu.Unlock()
	if pc != nil {
		_ = pc.WriteRTCP(c.srs)
	}
}

// sendSRsFast sends c.srv as compound packets on the fast path; false when
// the fast path is not up.
func (c *controller) sendSRsFast() bool {
	if c.p.dl == nil {
		return false
	}
	plain := c.srBuf[:0]
	for _, sr := range c.srv {
		if len(plain)+srSize > len(c.srBuf) {
			if !c.p.dl.sendRTCP(plain) {
				return false
			}
			plain = c.srBuf[:0]
		}
		plain = appendSR(plain, sr)
	}
	return c.p.dl.sendRTCP(plain)
}

// srSize is a sender report without report blocks (the SFU receives
// nothing from a subscriber to report on).
const srSize = 28

// appendSR appends sr as RFC 3550 lays it out, without report blocks.
func appendSR(b []byte, sr rtcp.SenderReport) []byte {
	b = append(b, 0x80, byte(rtcp.TypeSenderReport), 0, srSize/4-1)
	b = binary.BigEndian.AppendUint32(b, sr.SSRC)
	b = binary.BigEndian.AppendUint64(b, sr.NTPTime)
	b = binary.BigEndian.AppendUint32(b, sr.RTPTime)
	b = binary.BigEndian.AppendUint32(b, sr.PacketCount)
	return binary.BigEndian.AppendUint32(b, sr.OctetCount)
}

// inputs is what track i's Selector sees this tick.
func (c *controller) inputs(i int, d *DownTrack) simulcast.Inputs {
	return simulcast.Inputs{
		LayerBitrates: c.demands[i].LayerBitrates,
		Budget:        c.budgets[i],
		Loss:          float64(d.fracLost.Load()) / 256,
		MaxLayer:      c.demands[i].MaxLayer,
		Visible:       c.demands[i].Visible,
		Proven:        c.proven,
	}
}

// readEstimate is the transport-wide-cc estimate when the subscriber sends
// feedback, else the loss-based one, fed once per new receiver report; and
// whether the link shows congestion now.
func (c *controller) readEstimate(now time.Time) (int64, bool) {
	high := c.p.srv.cfg.Simulcast.HighLoss
	if c.p.dl != nil && c.negotiatedTWCC() {
		st, _ := c.p.dl.snapshot(now)
		c.proven = st.Proven
		return st.Target, st.Usage == bwe.UsageOver || (st.LossOK && st.Loss > high)
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
	c.proven = reports > 0
	return c.loss.Estimate(), float64(worst)/256 > high
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
