package sfu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu/bwe"
	"github.com/surgertc/surge/sfu/srtpfast"
	"github.com/surgertc/surge/simulcast"
)

// DownTrack is one published track as one subscriber receives it. It is the
// SFU's own webrtc.TrackLocal: at Bind it learns the subscriber's SSRC,
// payload type and header-extension IDs, and from then on it rewrites every
// packet of the upstream track (any simulcast layer) into one outgoing stream
// with its own sequence numbers and timestamps, and writes it straight to the
// subscriber's SRTP stream.
//
// Packets arrive from the Receiver's read loops (one per simulcast layer) and
// retransmissions from this DownTrack's RTCP loop, so the rewrite state is
// guarded by one mutex; it is uncontended in steady state (one layer flows).
type DownTrack struct {
	id       string
	streamID string
	kind     webrtc.RTPCodecType
	mk       metrics.Kind
	codec    webrtc.RTPCodecCapability
	receiver *Receiver
	sub      *Participant
	m        *metrics.SFU

	bound  atomic.Bool
	sender *webrtc.RTPSender // set once AddTrack returned; read by the RTCP loop

	// Subscriber preferences (subscription message) and what is on the
	// wire, shared between the signaling, forwarding and control goroutines.
	maxLayer atomic.Int32
	visible  atomic.Bool
	curLayer atomic.Int32        // layer forwarded now, -1 paused
	fracLost atomic.Uint32       // last receiver report's fraction lost (0..255)
	rrCount  atomic.Uint64       // receiver reports seen, so the loss estimate takes each once
	order    uint64              // subscription order: the allocator serves earlier tracks first
	selector *simulcast.Selector // owned by the subscriber's controller goroutine
	dl       *downlink           // the subscriber's send side; nil in tests without one
	probe    atomic.Pointer[bwe.Probe]

	mu      sync.Mutex
	writer  webrtc.TrackLocalWriter
	ssrc    uint32
	pt      uint8
	absID   uint8 // subscriber's abs-capture-time extension ID, 0 = not negotiated
	twccID  uint8 // subscriber's transport-wide-cc extension ID, 0 = not negotiated
	fwd     *simulcast.Forwarder
	hdr     rtp.Header
	extBuf  [4]rtp.Extension
	twccBuf [2]byte
	scratch [maxPacketSize]byte
	// plainHdr is the header marshalled before sealing; the payload is
	// sealed from where it lies. Ours carries no CSRC and at most two
	// one-byte extensions (24 bytes); the rest is slack.
	plainHdr [128]byte
	rtxBuf   [maxPacketSize]byte
	rtxPkt   rtp.Packet
	rtxMeta  simulcast.Meta
	srtp     *srtpfast.Context // the fast path's sealer, for route srtpFor
	srtpFor  *route
	rtx      rtxBudget    // bounds what this subscriber's NACKs cost (retransmit)
	rtt      atomic.Int64 // last measured round-trip time (ns), 0 = none yet
	// lastRescue is when an unrepairable loss last asked for a keyframe.
	lastRescue time.Time
	// For sender reports: what went out, and the newest RTP timestamp
	// with the wall time it was sent.
	sentPackets, sentOctets uint32
	lastTS                  uint32
	lastTSAt                time.Time
}

// paddingSize is the padding one probe packet carries.
const paddingSize = 255

func newDownTrack(r *Receiver, sub *Participant) *DownTrack {
	d := &DownTrack{
		id:       r.id,
		streamID: r.pub.id,
		kind:     r.kind,
		mk:       r.mk,
		codec:    r.codec,
		receiver: r,
		sub:      sub,
		m:        r.m,
		// Only VP8 switches layers; other codecs (H.264) are forwarded
		// as one layer from the first packet.
		fwd:      simulcast.NewForwarder(sub.srv.cfg.Simulcast, r.codec.ClockRate, r.payloads),
		selector: simulcast.NewSelector(sub.srv.cfg.Simulcast),
		dl:       sub.dl,
		rtx:      newRTXBudget(sub.srv.cfg.Forward.RTXShare),
	}
	d.maxLayer.Store(simulcast.LayerFull)
	d.visible.Store(true)
	d.curLayer.Store(simulcast.LayerPaused)
	return d
}

// dropReasons maps the Forwarder's verdicts to drop counters.
var dropReasons = [simulcast.NumVerdicts]metrics.DropReason{
	simulcast.DropNotTarget:    metrics.DropNotTargetLayer,
	simulcast.DropPaused:       metrics.DropPaused,
	simulcast.DropWaitKeyframe: metrics.DropWaitingKeyframe,
	simulcast.DropTooOld:       metrics.DropTooOld,
	simulcast.DropDuplicate:    metrics.DropTooOld,
	simulcast.DropInvalid:      metrics.DropMalformed,
}

// ID is the track id the subscriber sees (the published track's id).
func (d *DownTrack) ID() string { return d.id }

// RID is empty: a subscriber receives one stream whatever layer it carries.
func (d *DownTrack) RID() string { return "" }

// StreamID is the publisher's participant id.
func (d *DownTrack) StreamID() string { return d.streamID }

// Kind is audio or video.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.kind }

// Bind is called by Pion when the subscriber's answer makes the track live.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var codec webrtc.RTPCodecParameters
	found := false
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, d.codec.MimeType) {
			codec, found = c, true
			break
		}
	}
	if !found {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	d.mu.Lock()
	d.writer = ctx.WriteStream()
	d.ssrc = uint32(ctx.SSRC())
	d.pt = uint8(codec.PayloadType)
	d.absID, d.twccID = 0, 0
	for _, e := range ctx.HeaderExtensions() {
		switch e.URI {
		case uriAbsCaptureTime:
			d.absID = uint8(e.ID)
		case sdp.TransportCCURI:
			if d.dl != nil {
				d.twccID = uint8(e.ID)
			}
		}
	}
	ssrc := d.ssrc
	d.mu.Unlock()
	if d.dl != nil {
		d.dl.addTrack(ssrc, d)
	}
	d.bound.Store(true)
	return codec, nil
}

// Unbind stops writes; Pion calls it when the sender stops.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.bound.Store(false)
	if d.dl != nil {
		d.dl.removeTrack(d)
	}
	return nil
}

// writeRTP forwards a group of upstream packets into b, in order. It never
// blocks on the network: the fast path seals each packet into the batch,
// which the fan-out sends with one syscall; the fallback is an SRTP
// encrypt and a non-blocking UDP send. A slow or vanished subscriber costs
// the others nothing; a failed write is counted and dropped.
func (d *DownTrack) writeRTP(layer int, pkts []fwdPacket, b *batch) {
	if !d.bound.Load() {
		return
	}
	d.mu.Lock()
	for i := range pkts {
		p := &pkts[i]
		d.writeOne(layer, p.pkt, p.meta, p.abs, p.now, b)
	}
	d.mu.Unlock()
}

// writeOne forwards one packet, described by m; d.mu is held.
func (d *DownTrack) writeOne(layer int, pkt *rtp.Packet, m *simulcast.Meta, abs []byte, now time.Time, b *batch) {
	out, v := d.fwd.Accept(layer, &pkt.Header, pkt.Payload, m, now, d.scratch[:])
	if v != simulcast.Forward {
		if d.fwd.CurrentLayer() == simulcast.LayerPaused {
			d.curLayer.Store(simulcast.LayerPaused)
		}
		d.m.Dropped(dropReasons[v]).Inc()
		return
	}
	if out.Switched {
		d.curLayer.Store(int32(out.To))
		if out.From >= 0 { // a start or resume is not a switch
			d.m.SwitchLatency().Observe(out.SwitchDelay.Seconds())
		}
	}
	d.send(out, abs, 0, b, now)
	d.rtx.onMedia(len(out.Payload) + 12)
	if out.Marker {
		if p := d.probe.Load(); p != nil && d.probe.CompareAndSwap(p, nil) {
			d.sendProbe(p, b, now)
		}
	}
}

// requestProbe asks for a probe cluster after the next frame ends.
func (d *DownTrack) requestProbe(p bwe.Probe) {
	if old := d.probe.Swap(&p); old != nil && d.dl != nil {
		d.dl.probeCanceled(*old)
	}
}

// probePaused sends a probe cluster at once on a track whose video is
// paused: no frame end comes to carry it, and without a probe a subscriber
// paused for bandwidth would stay paused after its link recovered (what
// flows, audio, can only lift the estimate so far).
func (d *DownTrack) probePaused(p bwe.Probe, now time.Time) {
	b := d.sub.srv.batch()
	d.mu.Lock()
	d.sendProbe(&p, b, now)
	d.mu.Unlock()
	b.flush()
	putBatch(b)
}

// sendProbe sends a probe cluster: padding-only packets right after the
// frame that just ended; d.mu is held.
func (d *DownTrack) sendProbe(p *bwe.Probe, b *batch, now time.Time) {
	if d.dl == nil || d.twccID == 0 {
		return
	}
	first, ts, ok := d.fwd.Padding(p.Packets)
	if !ok {
		d.dl.probeCanceled(*p)
		return
	}
	d.dl.probeSent(*p, now)
	for i := 0; i < p.Packets; i++ {
		d.send(simulcast.Output{SequenceNumber: first + uint16(i), Timestamp: ts}, nil, p.ID, b, now)
	}
	d.m.ProbePackets().Add(float64(p.Packets))
}

// setTarget points the forwarder at layer; the switch happens at its
// keyframe. drain stops the current layer meanwhile (Forwarder.Drain).
func (d *DownTrack) setTarget(layer int, drain bool, now time.Time) {
	d.mu.Lock()
	d.fwd.SetTarget(layer, now)
	if drain {
		d.fwd.Drain()
	}
	if layer == simulcast.LayerPaused && d.fwd.CurrentLayer() == simulcast.LayerPaused {
		d.curLayer.Store(simulcast.LayerPaused)
	}
	d.mu.Unlock()
}

// keyframeRequest asks the publisher for a keyframe of the layer a pending
// switch waits for (throttled and retried by the forwarder).
func (d *DownTrack) keyframeRequest(now time.Time) {
	d.mu.Lock()
	layer, ok := d.fwd.KeyframeRequest(now)
	black := d.fwd.CurrentLayer() < 0
	d.mu.Unlock()
	if !ok {
		return
	}
	a, retry := d.receiver.requestKeyframe(layer, now, true, black)
	switch {
	case a == keyframeSent:
		d.m.SwitchPLIs().Inc()
	case !retry.IsZero():
		// Held back: the layer's keyframe was asked for lately (it may
		// have gone past before this subscriber wanted it) or the
		// publisher would drop the request now. Ask again as soon as it
		// would go out, not a whole KeyframeRetry later.
		d.mu.Lock()
		d.fwd.KeyframeNotBefore(retry)
		d.mu.Unlock()
	}
}

// send builds the subscriber's packet and writes it: sealed into b on the
// fast path, through Pion's writer otherwise. probe > 0 sends a padding-only
// packet of that probe cluster (out.Payload is ignored). d.mu is held.
func (d *DownTrack) send(out simulcast.Output, abs []byte, probe int, b *batch, now time.Time) {
	h := &d.hdr
	h.Version = 2
	h.Padding = probe > 0
	h.Marker = out.Marker
	h.PayloadType = d.pt
	h.SequenceNumber = out.SequenceNumber
	h.Timestamp = out.Timestamp
	h.SSRC = d.ssrc
	h.Extension = false
	h.ExtensionProfile = 0
	h.Extensions = d.extBuf[:0]
	if d.absID != 0 && len(abs) > 0 {
		_ = h.SetExtension(d.absID, abs)
	}
	var seq uint64
	if d.twccID != 0 {
		seq = d.dl.hist.Next()
		d.twccBuf[0], d.twccBuf[1] = byte(seq>>8), byte(seq)
		_ = h.SetExtension(d.twccID, d.twccBuf[:])
	}
	payload := out.Payload
	if probe > 0 {
		payload = d.scratch[:paddingSize]
		clear(payload[:paddingSize-1])
		payload[paddingSize-1] = paddingSize
	}
	size := h.MarshalSize() + len(payload)
	if probe == 0 {
		d.sentPackets++
		d.sentOctets += uint32(len(payload))
		if int32(out.Timestamp-d.lastTS) > 0 || d.lastTSAt.IsZero() {
			d.lastTS, d.lastTSAt = out.Timestamp, now
		}
	}
	if r := d.fastRoute(); r != nil && b != nil {
		hl, err := h.MarshalTo(d.plainHdr[:])
		if err == nil {
			s := b.next()
			var sealed []byte
			if sealed, err = d.srtp.SealParts(s.buf[:], d.plainHdr[:hl], payload); err == nil {
				s.to, s.kind, s.size, s.probe = r.to, d.mk, size, probe
				if d.twccID != 0 {
					s.hist, s.seq = d.dl.hist, seq
				}
				b.commit(s, len(sealed))
				return
			}
		}
		d.m.Dropped(metrics.DropWriteError).Inc()
		return
	}
	if _, err := d.writer.WriteRTP(h, payload); err != nil {
		d.m.Dropped(metrics.DropWriteError).Inc()
		return
	}
	if d.twccID != 0 {
		d.dl.hist.Sent(seq, size, probe, time.Now())
	}
	d.m.Sent(d.mk, size)
}

// fastRoute is the route to seal for, with the sealer ready, or nil when
// packets must go through Pion. d.mu is held.
func (d *DownTrack) fastRoute() *route {
	if d.dl == nil {
		return nil
	}
	r := d.dl.route.Load()
	if r == nil {
		return nil
	}
	if d.srtpFor == nil || !bytes.Equal(d.srtpFor.key, r.key) {
		c, err := srtpfast.NewContext(r.profile, r.key, r.salt)
		if err != nil {
			return nil
		}
		d.srtp = c
	}
	d.srtpFor = r
	return r
}

// retransmit answers a NACK for outSeq from the upstream packet cache,
// unless the packet is older than Forward.NACKMaxAge or from before the
// current layer's keyframe. It reports whether a packet of the current
// layer's run could not be resent: the subscriber's decoder is stuck until
// the next keyframe.
func (d *DownTrack) retransmit(outSeq uint16, now time.Time, b *batch) (lost bool) {
	d.m.NACKRequests().Inc()
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.bound.Load() {
		return false
	}
	if d.fwd.BeforeSwitch(outSeq) {
		d.m.Dropped(metrics.DropNACKStale).Inc()
		return false
	}
	nowNs := now.UnixNano()
	switch d.rtx.check(outSeq, nowNs, resendInterval(time.Duration(d.rtt.Load()))) {
	case rtxRepeat:
		d.m.Dropped(metrics.DropNACKRepeat).Inc()
		return false
	case rtxOverBudget:
		d.m.Dropped(metrics.DropNACKBudget).Inc()
		return true
	}
	layer, inSeq, ok := d.fwd.Retransmission(outSeq)
	if !ok {
		d.m.Dropped(metrics.DropCacheMiss).Inc()
		return false // not a packet we sent lately
	}
	n := d.receiver.loadPacket(layer, inSeq, d.rtxBuf[:], &d.rtxMeta, now.Add(-d.receiver.cfg.NACKMaxAge).UnixNano())
	if n == 0 || d.rtxPkt.Unmarshal(d.rtxBuf[:n]) != nil {
		d.m.Dropped(metrics.DropCacheMiss).Inc()
		return true
	}
	out, ok := d.fwd.RewriteRetransmission(outSeq, &d.rtxPkt.Header, d.rtxPkt.Payload, &d.rtxMeta, d.scratch[:])
	if !ok {
		d.m.Dropped(metrics.DropCacheMiss).Inc()
		return false
	}
	if d.rtx.spend(outSeq, len(out.Payload)+12, nowNs) != rtxSend {
		d.m.Dropped(metrics.DropNACKBudget).Inc()
		return true
	}
	var abs []byte
	if id := d.receiver.absID; id != 0 {
		abs = d.rtxPkt.Header.GetExtension(id)
	}
	d.send(out, abs, 0, b, now)
	d.m.NACKAnswered().Inc()
	return false
}

// readRTCP reads the subscriber's RTCP that Pion delivers for this track
// until the sender stops. On the fast path nothing comes here: the SFU reads
// that RTCP off the socket itself (rtcpin.go); this serves the other paths.
func (d *DownTrack) readRTCP() {
	buf := make([]byte, 1500)
	for {
		n, _, err := d.sender.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
				d.sub.log.Debug("subscriber RTCP read ended", "track", d.id, "err", err)
			}
			return
		}
		if d.dl != nil {
			d.dl.handleRTCP(buf[:n], time.Now(), d)
		}
	}
}

// onNACK answers the NACK feedback entries in fci (packet ID and bitmask
// pairs, RFC 4585 §6.2.1) from the packet cache, in one batch.
func (d *DownTrack) onNACK(fci []byte, now time.Time) {
	b := d.sub.srv.batch()
	lost := false
	for ; len(fci) >= 4; fci = fci[4:] {
		id, mask := binary.BigEndian.Uint16(fci), binary.BigEndian.Uint16(fci[2:])
		lost = d.retransmit(id, now, b) || lost
		for i := uint16(0); i < 16; i++ {
			if mask&(1<<i) != 0 {
				lost = d.retransmit(id+i+1, now, b) || lost
			}
		}
	}
	b.flush()
	putBatch(b)
	if lost {
		d.rescueKeyframe(now)
	}
}

// rescueInterval spaces the keyframes one subscriber's unrepairable losses
// may ask for: a keyframe costs the publisher and every subscriber on the
// layer, and a link short enough to lose them needs time to drain.
const rescueInterval = time.Second

// rescueKeyframe asks for a keyframe of the layer the subscriber decodes
// when a packet of its run cannot be resent (budget spent, aged out of the
// cache): its decoder cannot go on until the next keyframe, and a
// libwebrtc receiver only asks for one itself after 3 s without a
// decodable frame. A switch in progress has asked for its keyframe already.
func (d *DownTrack) rescueKeyframe(now time.Time) {
	if d.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	d.mu.Lock()
	layer := d.fwd.CurrentLayer()
	ask := layer >= 0 && layer == d.fwd.TargetLayer() && now.Sub(d.lastRescue) >= rescueInterval
	if ask {
		d.lastRescue = now
	}
	d.mu.Unlock()
	if ask {
		_, _ = d.receiver.requestKeyframe(layer, now, true, false)
	}
}

// ssrcIs reports whether this track sends ssrc.
func (d *DownTrack) ssrcIs(ssrc uint32) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ssrc == ssrc && d.ssrc != 0
}

// currentLayer is the layer a subscriber's PLI should refresh.
func (d *DownTrack) currentLayer() int {
	if l := int(d.curLayer.Load()); l >= 0 {
		return l
	}
	return 0
}

// observeReport takes this track's receiver report block: the fraction
// lost, and the round-trip time when it echoes one of our sender reports
// (RFC 3550 §6.4.1: lsr and dlsr in 1/65536 s).
func (d *DownTrack) observeReport(fractionLost uint8, lsr, dlsr uint32, now time.Time) {
	d.fracLost.Store(uint32(fractionLost))
	d.rrCount.Add(1)
	if lsr == 0 {
		return
	}
	rtt := ntpMiddle32(now) - lsr - dlsr
	if rtt >= 1<<31 { // a wrapped negative means clock trouble; ignore
		return
	}
	secs := float64(rtt) / 65536
	d.rtt.Store(int64(secs * float64(time.Second)))
	d.m.RTT().Observe(secs)
	if d.dl != nil {
		d.dl.setRTT(time.Duration(secs * float64(time.Second)))
	}
}

// senderReport is this track's RTCP sender report at now, false before
// anything was sent. The RTP time extrapolates the newest timestamp sent
// by the wall time since, so the receiver can map it to the NTP time.
func (d *DownTrack) senderReport(now time.Time) (rtcp.SenderReport, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lastTSAt.IsZero() || !d.bound.Load() {
		return rtcp.SenderReport{}, false
	}
	ts := d.lastTS + uint32(now.Sub(d.lastTSAt).Seconds()*float64(d.codec.ClockRate))
	return rtcp.SenderReport{SSRC: d.ssrc, NTPTime: ntpTime(now), RTPTime: ts, PacketCount: d.sentPackets, OctetCount: d.sentOctets}, true
}

// ntpTime is t as a 64-bit NTP timestamp.
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

func ntpMiddle32(t time.Time) uint32 { return uint32(ntpTime(t) >> 16) }
