package loadbot

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v2"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/loadbot/stats"
	"github.com/surgertc/surge/sfu/signal"
)

// subscriber owns a bot's subscribe PeerConnection. The server offers on it
// (and offers again as tracks come and go). Media arrives on the bot's own
// socket read goroutine (mediaConn, the fast path) or, where that cannot
// decrypt, through Pion's OnTrack readers; both end in onRTP. The RTCP a
// browser sends back — transport-wide CC feedback, NACKs, PLIs, receiver
// reports — is decided on the run's feedback loop (feedback), from the
// same state, so no Pion interceptor touches the packet path.
type subscriber struct {
	b *bot

	mu     sync.Mutex
	pc     *webrtc.PeerConnection
	cands  candidates
	closed bool
	wg     sync.WaitGroup // Pion-path read loops

	// Receive state, guarded by mu.
	media    mediaInfo // of the latest offer
	tracks   []*recvTrack
	twcc     *twcc.Recorder
	twccBase time.Time
	ssrc     uint32 // ours, as the sender of RTCP
	nackCfg  nackConfig
	nextTWCC time.Time
	nextRR   time.Time
	pending  int // packets not yet added to the metrics

	// Latency needs the publisher's clock: capture times are shifted by a
	// measured offset, or not timed at all without one (multi-host runs).
	shift time.Duration
	timed bool

	cap        capPlan
	capSent    map[string]string // track id → max_layer asked for
	firstVideo time.Time

	// Where feedback goes once the fast path is keyed (guarded by mu):
	// SRTCP straight to the socket, encrypted with rtcpCtx, which only the
	// feedback loop uses. Before that, and if it never is, pc.WriteRTCP.
	rtcpOut rtcpSender
	rtcpCtx *srtp.Context

	// Owned by the feedback loop.
	out     []rtcp.Packet
	nackBuf []uint16
	lostBuf []int64
	encBuf  []byte

	gotMedia atomic.Bool
	viaPion  atomic.Int64 // packets that took Pion's path (tests: the fast path failed)
}

// recvTrack is one received track.
type recvTrack struct {
	ssrc  uint32
	kind  stats.Kind
	id    string // the track id from the SDP, which subscription messages name
	st    *stats.TrackStats
	nacks nackList
	kf    keyframeRequests
	rr    stats.Reception // as of the last receiver report
	sr    senderReport
	final bool
}

func newSubscriber(b *bot) *subscriber {
	cfg := defaultNACKConfig()
	cfg.Off = b.spec.noNACK
	ssrc := rand.Uint32()
	s := &subscriber{b: b, nackCfg: cfg, ssrc: ssrc, twcc: twcc.NewRecorder(ssrc)}
	s.shift, s.timed = b.env.captureShift(b.spec.room)
	if b.spec.capped {
		s.cap, s.capSent = newCapPlan(b.env.cfg.Cap), map[string]string{}
	}
	return s
}

// onOffer answers a server offer, creating the PeerConnection the first
// time. It runs on the signaling read goroutine, so offers apply in order.
func (s *subscriber) onOffer(sdpText string) error {
	s.mu.Lock()
	pc, closed := s.pc, s.closed
	// Before the answer goes out, so before any packet it allows.
	s.media = parseMediaInfo(sdpText, s.media)
	s.mu.Unlock()
	if closed {
		return nil
	}
	if pc == nil {
		// Every PeerConnection has its own DTLS connection, so its own
		// keys: a reconnect's are new.
		api, err := s.b.env.subscriberAPI(s.b, &srtpKeys{}, s)
		if err != nil {
			return err
		}
		if pc, err = api.NewPeerConnection(s.b.pcConfig()); err != nil {
			return err
		}
		s.b.watchICE(pc)
		pc.OnConnectionStateChange(s.b.pcStateChange)
		pc.OnTrack(s.onTrack)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return pc.Close()
		}
		s.pc = pc
		s.mu.Unlock()
		s.b.env.feedback.add(s)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdpText}); err != nil {
		return err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := setLocalGathered(pc, answer); err != nil {
		return err
	}
	s.cands.ready(pc)
	return s.b.sig.send(signal.Message{Type: signal.TypeAnswer, Target: signal.TargetSubscriber, SDP: pc.LocalDescription().SDP})
}

func (s *subscriber) addCandidate(c webrtc.ICECandidateInit) { s.cands.add(c) }

// onTrack reads a track Pion delivers: media the fast path could not
// decrypt (see mediaConn). With the fast path working it never returns
// a packet and ends when the PeerConnection closes.
func (s *subscriber) onTrack(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	s.mu.Lock()
	if s.closed || s.pc == nil { // closed, or reset for a reconnect
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	buf := make([]byte, 1500)
	var h rtp.Header
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		if _, err := h.Unmarshal(buf[:n]); err != nil {
			continue
		}
		s.viaPion.Add(1)
		s.onRTP(&h, buf[:n], time.Now())
	}
}

// onRTP is the per-packet path: parse what the header and payload tell,
// record, note what is missing. It does not allocate (but for a track's
// first packet) and holds mu for well under a microsecond.
func (s *subscriber) onRTP(h *rtp.Header, pkt []byte, now time.Time) {
	payload, ok := rtpPayload(h, pkt)
	if !ok {
		return
	}
	var capture time.Time
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	tr := s.track(h.SSRC, h.PayloadType)
	if tr == nil {
		s.mu.Unlock()
		return
	}
	if id := s.media.twccID; id != 0 {
		if e := h.GetExtension(id); len(e) >= 2 {
			if s.twccBase.IsZero() {
				s.twccBase = now
			}
			s.twcc.Record(h.SSRC, binary.BigEndian.Uint16(e), now.Sub(s.twccBase).Microseconds())
		}
	}
	info := stats.PacketInfo{
		SequenceNumber: h.SequenceNumber,
		Timestamp:      h.Timestamp,
		Marker:         h.Marker,
		PayloadLen:     len(payload),
	}
	if id := s.media.absID; id != 0 && s.timed {
		if e := h.GetExtension(id); len(e) >= 8 {
			capture = time.Unix(0, fromNTP(binary.BigEndian.Uint64(e))+int64(s.shift))
			info.CaptureTime = capture
		}
	}
	if tr.kind == stats.KindVideo {
		if s.firstVideo.IsZero() {
			s.firstVideo = now
		}
		if v, ok := parseVP8(payload); ok && v.keyframe {
			info.Keyframe = true
			info.KeyframeWidth, info.KeyframeHeight = v.width, v.height
			info.Layer = layerForWidth(s.b.env.cfg.Layers, v.width)
		}
	}
	a := tr.st.OnPacket(info, now)
	if tr.kind == stats.KindVideo && a.New {
		if a.Gap > 0 {
			tr.nacks.missing(a.Ext-a.Gap, a.Ext, now)
		} else if len(tr.nacks.entries) > 0 {
			tr.nacks.arrived(a.Ext, now)
		}
	}
	s.pending++
	s.mu.Unlock()

	if !capture.IsZero() {
		s.b.env.metrics.ObserveLatency(now.Sub(capture))
	}
	if !s.gotMedia.Load() && s.gotMedia.CompareAndSwap(false, true) {
		s.b.emit(botEvent{kind: "media"})
	}
	if hook := s.b.env.packetHook; hook != nil {
		p := rtp.Packet{Header: *h, Payload: payload}
		hook(s.b, tr.kind, &p, now)
	}
}

// track returns the track of ssrc, creating it on its first packet; nil
// for a payload type the offer did not name. Tracks of a session lost
// before a reconnect are finished: a new session's packets start new ones,
// even on a reused SSRC.
func (s *subscriber) track(ssrc uint32, pt uint8) *recvTrack {
	for _, t := range s.tracks {
		if t.ssrc == ssrc && !t.final {
			return t
		}
	}
	kind, ok := s.media.kinds[pt]
	if !ok {
		return nil
	}
	clock := uint32(vp8ClockRate)
	if kind == stats.KindAudio {
		clock = opusClockRate
	}
	t := &recvTrack{
		ssrc: ssrc, kind: kind, id: s.media.ids[ssrc],
		st:    stats.NewTrackStats(kind, clock, stats.WithStart(s.b.start)),
		nacks: nackList{cfg: s.nackCfg},
		kf:    keyframeRequests{interval: pliInterval},
	}
	s.tracks = append(s.tracks, t)
	return t
}

// rtpPayload is pkt's payload without header and padding.
func rtpPayload(h *rtp.Header, pkt []byte) ([]byte, bool) {
	n := 12 + 4*len(h.CSRC)
	if h.Extension {
		if len(pkt) < n+4 {
			return nil, false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(pkt[n+2:]))
	}
	end := len(pkt)
	if h.Padding && end > n {
		end -= int(pkt[end-1])
	}
	if end < n {
		return nil, false
	}
	return pkt[n:end], true
}

// onRTCP takes the sender reports out of RTCP the server sent.
func (s *subscriber) onRTCP(pkt []byte, now time.Time) {
	pkts, err := rtcp.Unmarshal(pkt)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range pkts {
		sr, ok := p.(*rtcp.SenderReport)
		if !ok {
			continue
		}
		for _, t := range s.tracks {
			if t.ssrc == sr.SSRC {
				t.sr = senderReport{ntpMiddle: uint32(sr.NTPTime >> 16), at: now}
			}
		}
	}
}

// onKeyed takes the socket's RTCP sender (the first socket to be keyed).
func (s *subscriber) onKeyed(out rtcpSender, local *srtp.Context) {
	s.mu.Lock()
	if s.rtcpOut == nil {
		s.rtcpOut, s.rtcpCtx = out, local
	}
	s.mu.Unlock()
}

// feedback sends what is due at now: NACKs, PLIs, TWCC feedback, receiver
// reports. The run's feedback loop calls it every feedbackTick.
func (s *subscriber) feedback(now time.Time) {
	out := s.out[:0]
	s.mu.Lock()
	pc := s.pc
	if s.closed || pc == nil {
		s.mu.Unlock()
		return
	}
	for _, tr := range s.tracks {
		if tr.kind != stats.KindVideo || tr.final {
			continue
		}
		var lost []int64
		s.nackBuf, lost = tr.nacks.tick(now, s.nackBuf[:0], s.lostBuf[:0])
		s.lostBuf = lost
		for _, x := range lost {
			tr.st.GiveUp(x)
		}
		if len(s.nackBuf) > 0 {
			out = append(out, &rtcp.TransportLayerNack{SenderSSRC: s.ssrc, MediaSSRC: tr.ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(s.nackBuf)})
			tr.st.AddNACKs(len(s.nackBuf))
		}
		if tr.kf.due(tr.st.NeedKeyframe(), now) {
			out = append(out, &rtcp.PictureLossIndication{SenderSSRC: s.ssrc, MediaSSRC: tr.ssrc})
			tr.st.AddPLI()
		}
	}
	if !now.Before(s.nextTWCC) {
		out = append(out, s.twcc.BuildFeedbackPacket()...)
		s.nextTWCC = now.Add(twccInterval)
	}
	if !now.Before(s.nextRR) && len(s.tracks) > 0 {
		rr := &rtcp.ReceiverReport{SSRC: s.ssrc}
		for _, tr := range s.tracks {
			if tr.final {
				continue
			}
			cur := tr.st.Reception()
			rr.Reports = append(rr.Reports, receptionReport(tr.ssrc, cur, tr.rr, tr.sr, now))
			tr.rr = cur
		}
		out = append(out, rr)
		s.nextRR = now.Add(rrInterval)
	}
	var caps []signal.Message
	if want := s.cap.want(s.firstVideo, now); want != "" {
		for _, tr := range s.tracks {
			if tr.kind == stats.KindVideo && !tr.final && tr.id != "" && s.capSent[tr.id] != want {
				s.capSent[tr.id] = want
				caps = append(caps, signal.Message{Type: signal.TypeSubscription, TrackID: tr.id, MaxLayer: want})
			}
		}
	}
	n := s.pending
	s.pending = 0
	sender, ctx := s.rtcpOut, s.rtcpCtx
	s.mu.Unlock()
	if n > 0 {
		s.b.env.metrics.PacketsReceived().Add(float64(n))
	}
	for _, m := range caps {
		s.b.post(m)
	}
	if len(out) > 0 {
		s.send(out, pc, sender, ctx)
	}
	clear(out)
	s.out = out
}

// send writes one compound RTCP packet: on the fast path's socket, which
// spares it Pion's write path (the largest cost left per subscriber), or
// through Pion. The SRTCP index of our sender SSRC is then this side's
// alone: Pion writes no RTCP for subscribers.
func (s *subscriber) send(pkts []rtcp.Packet, pc *webrtc.PeerConnection, out rtcpSender, ctx *srtp.Context) {
	if out == nil {
		_ = pc.WriteRTCP(pkts)
		return
	}
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		return
	}
	if s.encBuf, err = ctx.EncryptRTCP(s.encBuf[:0], raw, nil); err == nil {
		_ = out.sendRTCP(s.encBuf)
	}
}

// snapshots returns every track's statistics so far.
func (s *subscriber) snapshots() []stats.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]stats.Snapshot, 0, len(s.tracks))
	for _, t := range s.tracks {
		out = append(out, t.st.Snapshot())
	}
	return out
}

// aggregate adds every track's statistics to a.
func (s *subscriber) aggregate(a *stats.Aggregate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tracks {
		snap := t.st.Snapshot()
		a.Add(&snap)
	}
}

// close ends the PeerConnection, waits for the read loops and declares
// whatever is still missing lost.
func (s *subscriber) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	pc := s.pc
	s.mu.Unlock()
	s.b.env.feedback.remove(s)
	if pc != nil {
		_ = pc.Close()
	}
	s.wg.Wait()
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tracks {
		if !t.final {
			t.st.Finish(now)
			t.final = true
		}
	}
	if s.pending > 0 {
		s.b.env.metrics.PacketsReceived().Add(float64(s.pending))
		s.pending = 0
	}
}
