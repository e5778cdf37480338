package sfu

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu/signal"
	"github.com/surgertc/surge/simulcast"
)

const maxLayers = 3

// Receiver is one published track: its upstream layers (one for audio or
// plain video, up to three for simulcast), the packet cache of each, and the
// DownTracks it fans out to. Each layer has one read loop, which owns the
// layer's packets; everything else reads atomics.
type Receiver struct {
	id    string
	pub   *Participant
	kind  webrtc.RTPCodecType
	mk    metrics.Kind
	codec webrtc.RTPCodecCapability
	absID uint8 // publisher's abs-capture-time extension ID, 0 = none
	// payloads parses each packet once, on arrival, and rewrites it for
	// every DownTrack.
	payloads simulcast.Codec
	m        *metrics.SFU
	cfg      ForwardConfig

	kf keyframeGate

	mu     sync.Mutex // guards layers and downs writes
	layers [maxLayers]*upLayer
	live   int // running read loops; the track ends when the last stops
	downs  atomic.Pointer[[]*DownTrack]
	fanout []*DownTrack // every subscriber; downs is this, or empty while muted (mute.go)
	muted  bool

	statsMu sync.Mutex
	rates   [maxLayers]int64
	ratesAt time.Time

	onEnd func(*Receiver) // called once when every layer's loop has stopped
}

type upLayer struct {
	track *webrtc.TrackRemote
	ssrc  uint32
	cache *packetCache
	meta  simulcast.Meta           // forward's packet (the read loop's are in its readAhead)
	group [readAheadSize]fwdPacket // the packets being fanned out; the read loop's

	// Written by the layer's read loop, read by subscribers' controllers.
	bytes        atomic.Uint64
	frames       atomic.Uint64
	lastPacket   atomic.Int64 // unix nanos
	lastKeyframe atomic.Int64 // unix nanos

	meter rateMeter // guarded by Receiver.statsMu

	fan fanoutWorkers // the read loop's
}

// layerLiveFor is how long a layer may be silent before it counts as gone
// (a browser stops sending f when its own uplink is short).
const layerLiveFor = time.Second

func newReceiver(id string, pub *Participant, track *webrtc.TrackRemote, recv *webrtc.RTPReceiver, cfg ForwardConfig, m *metrics.SFU) *Receiver {
	r := &Receiver{
		id:    id,
		pub:   pub,
		kind:  track.Kind(),
		mk:    metrics.KindVideo,
		codec: track.Codec().RTPCodecCapability,
		m:     m,
		cfg:   cfg,
		kf:    keyframeGate{throttle: cfg.PLIThrottle},
	}
	if r.kind == webrtc.RTPCodecTypeAudio {
		r.mk = metrics.KindAudio
	}
	r.payloads = simulcast.CodecFor(r.codec.MimeType)
	for _, e := range recv.GetParameters().HeaderExtensions {
		if e.URI == uriAbsCaptureTime {
			r.absID = uint8(e.ID)
		}
	}
	empty := []*DownTrack{}
	r.downs.Store(&empty)
	return r
}

// info describes the track for signaling.
func (r *Receiver) info() signal.TrackInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	ti := signal.TrackInfo{ID: r.id, ParticipantID: r.pub.id, StreamID: r.pub.id, Kind: r.kind.String(), Codec: r.codec.MimeType, Muted: r.muted}
	for i, l := range r.layers {
		if l != nil && l.track.RID() != "" {
			ti.Layers = append(ti.Layers, signal.LayerName(i))
		}
	}
	return ti
}

// layerOf maps a simulcast RID to a layer; a plain track is layer 0.
func layerOf(rid string) int {
	if rid == "" {
		return 0
	}
	return signal.LayerIndex(rid)
}

// addLayer starts the read loop of one upstream layer. wg is the publishing
// participant's, so closing the participant waits for the loop.
func (r *Receiver) addLayer(track *webrtc.TrackRemote, wg *sync.WaitGroup) error {
	l := layerOf(track.RID())
	if l < 0 {
		return signal.Errorf(signal.CodeBadRequest, "unknown simulcast rid %q: use q, h and f", track.RID())
	}
	ul := &upLayer{track: track, ssrc: uint32(track.SSRC()), cache: newPacketCache(r.cfg.PacketCacheSize)}
	ul.fan = fanoutWorkers{n: resolveFanoutWorkers(r.cfg.FanoutWorkers), threshold: r.cfg.FanoutThreshold,
		newBatch: r.pub.srv.batch, room: r.pub.room.name, track: r.id}
	r.mu.Lock()
	if r.layers[l] != nil {
		r.mu.Unlock()
		return signal.Errorf(signal.CodeBadRequest, "rid %q sent twice", track.RID())
	}
	r.layers[l] = ul
	r.live++
	r.mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		labelGoroutine(r.pub.room.name, "track", r.id, "role", "receiver")
		r.readLoop(l, ul)
		r.mu.Lock()
		r.live--
		end := r.live == 0
		r.mu.Unlock()
		if end && r.onEnd != nil {
			r.onEnd(r)
		}
	}()
	return nil
}

// readLoop is the hot path: take the packets that have arrived, cache them,
// fan them out.
func (r *Receiver) readLoop(layer int, ul *upLayer) {
	defer ul.fan.stop()
	ra := newReadAhead()
	go func() {
		labelGoroutine(r.pub.room.name, "track", r.id, "role", "reader")
		ra.run(func(b []byte) (int, error) {
			n, _, err := ul.track.Read(b)
			return n, err
		})
	}()
	defer ra.wait()
	for {
		slots, ok := ra.next()
		if !ok {
			if !errors.Is(ra.err, io.EOF) {
				r.pub.log.Debug("track read ended", "track", r.id, "layer", layer, "err", ra.err)
			}
			return
		}
		g := ul.group[:0]
		for _, i := range slots {
			p := &ra.pkts[i]
			g = r.accept(g, ul, p.buf[:p.n], &p.pkt, &p.meta, p.at)
		}
		r.fanOut(layer, ul, g)
		ra.release(slots)
	}
}

// forward handles one upstream packet, as the read loop does a group of
// one; benchmarks and tests drive the fan-out through it without a network.
func (r *Receiver) forward(layer int, ul *upLayer, raw []byte, pkt *rtp.Packet, now time.Time) {
	r.fanOut(layer, ul, r.accept(ul.group[:0], ul, raw, pkt, &ul.meta, now))
}

// accept parses, counts and caches one upstream packet and appends it to g
// if it is to be forwarded. Parsed once here; the DownTracks read m and
// never the payload's descriptor. A payload the codec cannot describe is
// dropped for everyone at once (and never cached: no NACK can get it).
func (r *Receiver) accept(g []fwdPacket, ul *upLayer, raw []byte, pkt *rtp.Packet, m *simulcast.Meta, now time.Time) []fwdPacket {
	if err := pkt.Unmarshal(raw); err != nil || r.payloads.Parse(&pkt.Header, pkt.Payload, m) != nil {
		r.m.Dropped(metrics.DropMalformed).Inc()
		return g
	}
	r.m.Received(r.mk, len(raw))
	ul.cache.store(pkt.SequenceNumber, raw, m, now.UnixNano())
	// Padding is neither the layer's cost nor a sign of life: a browser
	// whose uplink is short stops encoding a layer but keeps sending
	// padding on it, and a layer kept live by padding would hold its
	// subscribers on a picture that no longer moves.
	if len(pkt.Payload) > 0 {
		ul.bytes.Add(uint64(len(raw)))
		ul.lastPacket.Store(now.UnixNano())
	}
	if pkt.Marker {
		ul.frames.Add(1)
	}
	if m.Keyframe {
		ul.lastKeyframe.Store(now.UnixNano())
	}
	var abs []byte
	if r.absID != 0 {
		abs = pkt.Header.GetExtension(r.absID)
	}
	return append(g, fwdPacket{pkt: pkt, meta: m, abs: abs, now: now})
}

// fanOut writes a group of packets to every subscriber: subscriber by
// subscriber, each one's packets in order and next to each other in the
// batch, so that they leave in one send.
func (r *Receiver) fanOut(layer int, ul *upLayer, g []fwdPacket) {
	if len(g) == 0 {
		return
	}
	downs := *r.downs.Load()
	if len(downs) > 0 {
		b := r.pub.srv.batch()
		if j := (fanJob{layer: layer, pkts: g, downs: downs}); ul.fan.split(len(downs)) {
			ul.fan.run(j, b)
		} else {
			j.write(0, len(downs), b)
		}
		b.flush()
		putBatch(b)
	}
	done := time.Now()
	for i := range g {
		r.m.ForwardLatency().Observe(done.Sub(g[i].now).Seconds())
	}
}

// loadPacket copies a cached upstream packet that arrived after notBefore
// (unix nanos) into dst, and its Meta into m.
func (r *Receiver) loadPacket(layer int, seq uint16, dst []byte, m *simulcast.Meta, notBefore int64) int {
	if layer < 0 || layer >= maxLayers {
		return 0
	}
	r.mu.Lock()
	ul := r.layers[layer]
	r.mu.Unlock()
	if ul == nil {
		return 0
	}
	return ul.cache.load(seq, dst, m, notBefore)
}

// requestKeyframe sends a PLI upstream for layer, at most once per
// PLIThrottle (a room of subscribers losing packets at once must not make
// the publisher send a keyframe per subscriber), and not within
// publisherKeyframeGap of one for another layer (the publisher would drop
// it: keyframeDeferred, ask again). spaced=false sends regardless of the
// gap; black marks a subscriber that shows nothing until the keyframe (see
// keyframeGate.ask). A request held back comes with when the same request
// would go out (zero: not worth asking again).
func (r *Receiver) requestKeyframe(layer int, now time.Time, spaced, black bool) (keyframeAsk, time.Time) {
	if r.kind != webrtc.RTPCodecTypeVideo || layer < 0 || layer >= maxLayers {
		return keyframeThrottled, time.Time{}
	}
	r.mu.Lock()
	ul := r.layers[layer]
	r.mu.Unlock()
	if ul == nil {
		return keyframeThrottled, time.Time{}
	}
	a, retry := r.kf.ask(layer, now, spaced, black)
	if a != keyframeSent {
		r.m.PLIThrottled().Inc()
		return a, retry
	}
	if err := r.pub.writeRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ul.ssrc}}); err != nil {
		return keyframeThrottled, time.Time{}
	}
	r.m.PLIForwarded().Inc()
	return keyframeSent, time.Time{}
}

// addDown and removeDown swap the fan-out slice copy-on-write, so the read
// loops never take a lock to iterate it.
func (r *Receiver) addDown(d *DownTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.fanout
	next := make([]*DownTrack, 0, len(old)+1)
	next = append(next, old...)
	next = append(next, d)
	r.setFanoutLocked(next)
}

func (r *Receiver) removeDown(d *DownTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.fanout
	next := make([]*DownTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			next = append(next, x)
		}
	}
	r.setFanoutLocked(next)
}

// bitrates returns each layer's measured bitrate (bps) over the last second;
// 0 for a layer that is absent or silent. Subscribers' controllers all call
// it every tick; it recomputes at most every 100 ms.
func (r *Receiver) bitrates(now time.Time) [maxLayers]int64 {
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	if now.Sub(r.ratesAt) < 100*time.Millisecond {
		return r.rates
	}
	r.ratesAt = now
	r.mu.Lock()
	layers := r.layers
	r.mu.Unlock()
	for i, ul := range layers {
		r.rates[i] = 0
		if ul == nil {
			continue
		}
		bps, settled := ul.meter.update(now, ul.bytes.Load())
		// A layer counts as live once its rate is measured over half a
		// window: a layer that just appeared looks nearly free, and
		// choosing it would flood a weak link with the top layer. The
		// lowest layer is live from its first packets: nothing cheaper
		// can be chosen instead, and waiting for its measurement kept
		// every subscriber of a new publisher on a black picture for
		// 0.6 s and made them miss the publisher's first keyframes.
		if (settled || i == 0) && now.UnixNano()-ul.lastPacket.Load() < int64(layerLiveFor) {
			r.rates[i] = max(bps, 1)
		}
	}
	return r.rates
}

// rateMeter turns a byte counter into a bitrate over a sliding window.
type rateMeter struct {
	samples [12]rateSample
	n, head int
}

type rateSample struct {
	at    time.Time
	bytes uint64
}

const rateWindow = time.Second

func (m *rateMeter) update(now time.Time, total uint64) (bps int64, settled bool) {
	if m.n == 0 || now.Sub(m.samples[(m.head+m.n-1)%len(m.samples)].at) >= 90*time.Millisecond {
		if m.n == len(m.samples) {
			m.head = (m.head + 1) % len(m.samples)
			m.n--
		}
		m.samples[(m.head+m.n)%len(m.samples)] = rateSample{at: now, bytes: total}
		m.n++
	}
	for m.n > 2 && now.Sub(m.samples[(m.head+1)%len(m.samples)].at) >= rateWindow {
		m.head = (m.head + 1) % len(m.samples)
		m.n--
	}
	oldest, newest := m.samples[m.head], m.samples[(m.head+m.n-1)%len(m.samples)]
	dt := newest.at.Sub(oldest.at)
	if dt <= 0 {
		return 0, false
	}
	return int64(float64(newest.bytes-oldest.bytes) * 8 / dt.Seconds()), dt >= rateWindow/2
}
