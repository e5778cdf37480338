package sfu

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/signal"
)

// Participant is one client in a room: its signaling session and two
// PeerConnections. The client offers on the publish side; the server offers
// on the subscribe side. With one offerer per PeerConnection, renegotiation
// as tracks come and go never glares.
type Participant struct {
	id    string
	grant auth.Grant
	room  *Room
	sess  *session
	srv   *Server
	log   *slog.Logger
	since time.Time // admitted

	stages joinProgress // join stage metrics (joinstage.go)

	wg sync.WaitGroup // read loops of published tracks, RTCP loops of subscriptions

	mu        sync.Mutex
	pubPC     *webrtc.PeerConnection
	subPC     *webrtc.PeerConnection
	receivers map[*webrtc.RTPReceiver]*Receiver
	downs     map[string]*DownTrack     // by track id
	early     []webrtc.ICECandidateInit // publisher candidates that came before the offer
	earlySub  []webrtc.ICECandidateInit // subscriber candidates that came before the first answer
	pubGuard  *streamGuard              // the publish connection's, once it has an answer
	pubGate   *candidateGate            // pubPC's local candidates, sent after its answer
	closed    bool

	subGate *candidateGate // subPC's local candidates, sent after its first offer

	ctrl *controller // nil without the subscribe grant
	dl   *downlink   // the subscribe side's send state; nil without the subscribe grant

	negMu         sync.Mutex
	offerInFlight bool
	offerPending  bool
	offerMedia    int // media sections of the offer in flight
}

func newParticipant(srv *Server, room *Room, sess *session, g auth.Grant) *Participant {
	id := newID("PA_")
	return &Participant{
		id:        id,
		grant:     g,
		room:      room,
		sess:      sess,
		srv:       srv,
		log:       sess.log.With("room", room.name, "participant", id, "identity", g.Identity), // remote (and proxy) come with the session
		receivers: map[*webrtc.RTPReceiver]*Receiver{},
		downs:     map[string]*DownTrack{},
		since:     time.Now(),
	}
}

// info describes p with the tracks it publishes (the room API's view;
// room members learn of tracks from the room, see Room.infosLocked).
func (p *Participant) info() signal.ParticipantInfo {
	pi := signal.ParticipantInfo{ID: p.id, Identity: p.grant.Identity}
	p.mu.Lock()
	rs := make([]*Receiver, 0, len(p.receivers))
	for _, r := range p.receivers {
		rs = append(rs, r)
	}
	p.mu.Unlock()
	for _, r := range rs {
		pi.Tracks = append(pi.Tracks, r.info())
	}
	return pi
}

func (p *Participant) send(m signal.Message) { p.sess.send(m) }

// newPC builds a PeerConnection that trickles its candidates to the client
// and ends the participant if ICE fails (the peer vanished).
// The returned gate holds the candidates until release: Pion gathers while
// it sets the local description, so without it a candidate could reach
// the client before the description it belongs to, and clients (browsers,
// Pion) reject those; a relay-only client that loses them never connects.
func (p *Participant) wirePC(pc *webrtc.PeerConnection, target string, onConnected func()) *candidateGate {
	gate := &candidateGate{send: p.send}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		init := c.ToJSON()
		gate.offer(signal.Message{Type: signal.TypeCandidate, Target: target, Candidate: &signal.Candidate{
			Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex, UsernameFragment: init.UsernameFragment,
		}})
	})
	path := p.srv.newICEPath(pc)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		path.update(s)
		switch s {
		case webrtc.PeerConnectionStateFailed:
			p.log.Info("peer connection failed; removing participant", "pc", target)
			p.sess.close()
		case webrtc.PeerConnectionStateConnected:
			p.stageReached(metrics.StageICEConnected)
			if onConnected != nil {
				onConnected()
			}
		}
	})
	return gate
}

// candidateGate sends a PeerConnection's local candidates to the client
// only once the description they belong to has been sent (docs/signaling.md,
// "Ordering").
type candidateGate struct {
	send func(signal.Message)

	mu   sync.Mutex
	open bool
	held []signal.Message
}

func (g *candidateGate) offer(m signal.Message) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		g.held = append(g.held, m) // bounded: one per local candidate Pion gathers
		return
	}
	g.send(m)
}

// release is called right after the description went to the session's
// send queue; held candidates follow it, in order.
func (g *candidateGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		return
	}
	g.open = true
	for _, m := range g.held {
		g.send(m)
	}
	g.held = nil
}

// startSubscriber creates the subscribe PeerConnection at join.
func (p *Participant) startSubscriber() error {
	if !p.grant.CanSubscribe {
		return nil
	}
	pcCfg, err := p.srv.engine.certs.pcConfig()
	if err != nil {
		return err
	}
	pc, err := p.srv.engine.subscribe.NewPeerConnection(pcCfg)
	if err != nil {
		return err
	}
	p.dl = newDownlink(p.srv.cfg.BWE.estimator(), p.srv.cfg.BWE.prober(), p.srv.sock, p.srv.rtcpIn, time.Now())
	route := func(pair *webrtc.ICECandidatePair) {
		if err := p.dl.updateRoute(pc, pair); err != nil {
			p.log.Debug("fast send path off", "err", err)
		}
	}
	p.subGate = p.wirePC(pc, signal.TargetSubscriber, func() { route(nil) })
	if sctp := pc.SCTP(); sctp != nil {
		sctp.Transport().ICETransport().OnSelectedCandidatePairChange(route)
	}
	p.mu.Lock()
	p.subPC = pc
	p.mu.Unlock()
	p.ctrl = newController(p)
	return nil
}

// startController runs the subscriber's bandwidth controller once the
// participant has joined, so that its first bandwidth message follows joined.
func (p *Participant) startController() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctrl == nil || p.closed { // closed: replaced or gone before it joined
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		labelGoroutine(p.room.name, "participant", p.id, "role", "controller")
		p.ctrl.run()
	}()
}

// handlePublisherOffer applies the client's offer on the publish side and answers.
func (p *Participant) handlePublisherOffer(offerSDP string) error {
	if !p.grant.CanPublish {
		return signal.Errorf(signal.CodeForbidden, "token does not grant publish")
	}
	parsed, err := checkRemoteSDP(offerSDP)
	if err != nil {
		return err
	}
	if n := countSendingMedia(parsed); n > p.srv.cfg.Room.MaxTracksPerParticipant {
		return signal.Errorf(signal.CodeTooManyTracks, "offer publishes %d tracks; the limit is %d per participant", n, p.srv.cfg.Room.MaxTracksPerParticipant)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	pc := p.pubPC
	p.mu.Unlock()
	fresh := pc == nil
	if fresh {
		pcCfg, err := p.srv.engine.certs.pcConfig()
		if err != nil {
			return err
		}
		if pc, err = p.srv.engine.publish.NewPeerConnection(pcCfg); err != nil {
			return err
		}
		gate := p.wirePC(pc, signal.TargetPublisher, nil)
		pc.OnTrack(p.onTrack)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = pc.Close()
			return ErrClosed
		}
		p.pubPC = pc
		p.pubGate = gate
		p.mu.Unlock()
	}
	answer, err := answerOffer(pc, offerSDP)
	if err != nil {
		// A rejected offer must leave the connection able to take the
		// next one: a first offer's connection is discarded, a
		// renegotiation rolled back. After a panic inside Pion the
		// connection may hold a lock it will never release, so it is
		// dropped in any case and closed where a hang costs nobody.
		poisoned := errors.Is(err, errPionPanic)
		if fresh || poisoned {
			p.mu.Lock()
			if p.pubPC == pc {
				p.pubPC = nil
			}
			p.mu.Unlock()
			if poisoned {
				go func() { _ = pc.Close() }() // owner: none; see above
			} else {
				_ = pc.Close()
			}
		} else if pc.SignalingState() == webrtc.SignalingStateHaveRemoteOffer {
			_ = safely(func() error {
				return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback})
			})
		}
		return err
	}
	if g := p.srv.guards.attach(pc, p.id+" ("+p.grant.Identity+") publisher"); g != nil {
		p.mu.Lock()
		p.pubGuard = g
		p.mu.Unlock()
	}
	p.flushEarlyCandidates(pc, signal.TargetPublisher)
	p.send(signal.Message{Type: signal.TypeAnswer, Target: signal.TargetPublisher, SDP: answer})
	p.mu.Lock()
	gate := p.pubGate
	p.mu.Unlock()
	gate.release()
	p.stageNegotiated()
	return nil
}

// answerOffer applies a checked offer and returns the answer. Every call
// into Pion that parses the peer's SDP is guarded against panics. The fuzz
// target drives this same function.
func answerOffer(pc *webrtc.PeerConnection, offerSDP string) (string, error) {
	if err := safely(func() error {
		return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP})
	}); err != nil {
		return "", signal.Errorf(signal.CodeInvalidSDP, "offer rejected: %v", err)
	}
	var answer webrtc.SessionDescription
	if err := safely(func() (err error) { answer, err = pc.CreateAnswer(nil); return err }); err != nil {
		return "", signal.Errorf(signal.CodeInvalidSDP, "cannot answer offer: %v", err)
	}
	if err := safely(func() error { return pc.SetLocalDescription(answer) }); err != nil {
		return "", signal.Errorf(signal.CodeInvalidSDP, "cannot apply answer: %v", err)
	}
	return pc.LocalDescription().SDP, nil
}

// checkSDP checks a peer's description (checkRemoteSDP) and, for an
// answer, that it has one section per offered transceiver: Pion finds that
// only after changing state.
func checkSDP(text string, wantMedia int) error {
	parsed, err := checkRemoteSDP(text)
	if err != nil {
		return err
	}
	if wantMedia >= 0 && len(parsed.MediaDescriptions) != wantMedia {
		return signal.Errorf(signal.CodeInvalidSDP, "has %d media sections, the offer had %d", len(parsed.MediaDescriptions), wantMedia)
	}
	return nil
}

// mediaCount is the number of media sections in d, -1 if unknown.
func mediaCount(d *webrtc.SessionDescription) int {
	if d == nil {
		return -1
	}
	parsed, err := d.Unmarshal()
	if err != nil {
		return -1
	}
	return len(parsed.MediaDescriptions)
}

func checkMids(s *sdp.SessionDescription) error {
	for i, m := range s.MediaDescriptions {
		if mid, ok := m.Attribute("mid"); !ok || mid == "" {
			return signal.Errorf(signal.CodeInvalidSDP, "media section %d has no a=mid (unified plan needs one per section)", i)
		}
	}
	return nil
}

// countSendingMedia counts audio/video sections the client sends on.
func countSendingMedia(s *sdp.SessionDescription) int {
	n := 0
	for _, m := range s.MediaDescriptions {
		if m.MediaName.Media != "audio" && m.MediaName.Media != "video" {
			continue
		}
		recvOnly := false
		for _, a := range m.Attributes {
			if a.Key == "recvonly" || a.Key == "inactive" {
				recvOnly = true
			}
		}
		if !recvOnly && m.MediaName.Port.Value != 0 {
			n++
		}
	}
	return n
}

// onTrack runs once per upstream layer: the first layer of a track creates
// and publishes its Receiver, later simulcast layers join it.
func (p *Participant) onTrack(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if p.pubGuard != nil {
		// Pion fires OnTrack only once a packet of the SSRC decrypted:
		// the stream is authenticated, so the guard stops counting it.
		p.pubGuard.confirm(uint32(track.SSRC()))
	}
	r, existed := p.receivers[recv]
	if !existed {
		r = newReceiver(newID("TR_"), p, track, recv, p.srv.cfg.Forward, p.srv.m)
		r.onEnd = p.onTrackEnd
		p.receivers[recv] = r
	}
	// Held until the layer's read loop is counted in p.wg: close sets
	// closed and then waits on p.wg, and an Add that could start from zero
	// during that Wait races with it.
	p.wg.Add(1)
	p.mu.Unlock()
	err := r.addLayer(track, &p.wg)
	p.wg.Done()
	if err != nil {
		p.log.Warn("ignoring upstream layer", "track", r.id, "err", err)
		p.send(signal.ErrorMessage(err))
		return
	}
	if !existed {
		p.stageReached(metrics.StageFirstMedia)
		p.srv.m.TracksPublished(r.mk).Inc()
		p.log.Info("track published", "track", r.id, "kind", r.kind.String(), "codec", r.codec.MimeType, "rid", track.RID())
		p.room.publish(p, r)
	}
}

func (p *Participant) onTrackEnd(r *Receiver) {
	p.mu.Lock()
	for k, v := range p.receivers {
		if v == r {
			delete(p.receivers, k)
		}
	}
	p.mu.Unlock()
	p.srv.m.TracksPublished(r.mk).Dec()
	p.room.unpublish(r)
}

// subscribe adds a DownTrack for r and renegotiates.
func (p *Participant) subscribe(r *Receiver) {
	p.mu.Lock()
	if p.closed || p.subPC == nil || p.downs[r.id] != nil {
		p.mu.Unlock()
		return
	}
	d := newDownTrack(r, p)
	d.order = p.srv.subscriptions.Add(1)
	sender, err := p.subPC.AddTrack(d)
	if err != nil {
		p.mu.Unlock()
		p.log.Warn("cannot add subscribed track", "track", r.id, "err", err)
		return
	}
	d.sender = sender
	p.downs[r.id] = d
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		labelGoroutine(p.room.name, "track", r.id, "role", "downtrack_rtcp")
		d.readRTCP()
	}()
	r.addDown(d)
	p.srv.m.TracksSubscribed(d.mk).Inc()
	p.negotiate()
}

// subscribeAll subscribes to the tracks published before p joined (later
// ones the room subscribes p to as they come).
func (p *Participant) subscribeAll(tracks []*Receiver) {
	for _, t := range tracks {
		if t.pub != p {
			p.subscribe(t)
		}
	}
}

// unsubscribe removes r's DownTrack and renegotiates.
func (p *Participant) unsubscribe(r *Receiver) {
	p.mu.Lock()
	d := p.downs[r.id]
	if d == nil {
		p.mu.Unlock()
		return
	}
	delete(p.downs, r.id)
	pc, closed := p.subPC, p.closed
	p.mu.Unlock()
	r.removeDown(d)
	p.srv.m.TracksSubscribed(d.mk).Dec()
	if closed {
		return
	}
	if err := pc.RemoveTrack(d.sender); err != nil {
		p.log.Debug("remove track", "track", r.id, "err", err)
	}
	p.negotiate()
}

// negotiate sends a subscriber offer, or marks one pending while an offer
// awaits its answer: one offer in flight at a time.
func (p *Participant) negotiate() {
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if p.offerInFlight {
		p.offerPending = true
		return
	}
	p.mu.Lock()
	pc, closed := p.subPC, p.closed
	p.mu.Unlock()
	if closed || pc == nil {
		return
	}
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		p.log.Warn("subscriber offer failed", "err", err)
		return
	}
	sent := pc.LocalDescription()
	p.srv.guards.attach(pc, p.id+" ("+p.grant.Identity+") subscriber")
	p.offerInFlight = true
	p.offerPending = false
	p.offerMedia = mediaCount(sent)
	p.send(signal.Message{Type: signal.TypeOffer, Target: signal.TargetSubscriber, SDP: sent.SDP})
	p.subGate.release()
}

// handleSubscriberAnswer applies the client's answer to the last offer.
func (p *Participant) handleSubscriberAnswer(answerSDP string) error {
	p.negMu.Lock()
	if !p.offerInFlight {
		p.negMu.Unlock()
		return signal.Errorf(signal.CodeBadRequest, "no subscriber offer is awaiting an answer")
	}
	p.mu.Lock()
	pc := p.subPC
	p.mu.Unlock()
	// Pion moves to stable before it finds some faults, which would spend
	// the offer; checking first lets the client correct its answer.
	if err := checkSDP(answerSDP, p.offerMedia); err != nil {
		p.negMu.Unlock()
		return err
	}
	err := safely(func() error {
		return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answerSDP})
	})
	if errors.Is(err, errPionPanic) {
		// The subscribe connection may now hold a lock forever: end the
		// participant rather than touch it again.
		p.negMu.Unlock()
		p.log.Warn("subscriber answer crashed the WebRTC stack; removing participant", "err", err)
		p.sess.sendAndClose(signal.Message{Type: signal.TypeLeave, Code: signal.CodeInvalidSDP, Reason: "the subscriber answer could not be applied: " + err.Error()})
		return signal.Errorf(signal.CodeInvalidSDP, "answer rejected: %v", err)
	}
	if err != nil {
		// If the offer is still pending the client may correct its
		// answer; if Pion applied part of it the offer is spent, and a
		// fresh one (which the client must answer) restores agreement.
		spent := pc.SignalingState() == webrtc.SignalingStateStable
		if spent {
			p.offerInFlight = false
		}
		p.negMu.Unlock()
		if spent {
			p.negotiate()
		}
		return signal.Errorf(signal.CodeInvalidSDP, "answer rejected: %v", err)
	}
	p.offerInFlight = false
	pending := p.offerPending
	p.negMu.Unlock()
	p.flushEarlyCandidates(pc, signal.TargetSubscriber)
	p.stageNegotiated()
	if pending {
		p.negotiate()
	}
	return nil
}

// maxEarlyCandidates bounds the candidates held per connection until its
// description arrives: a browser gathers a handful per interface.
const maxEarlyCandidates = 32

// handleCandidate adds a trickled client candidate. Candidates that arrive
// before the description they belong to (the publisher's offer, the
// subscriber's first answer) are held and added once it is applied: Pion and
// browsers emit candidates while setting their local description, so a
// client's first candidates often overtake the SDP they follow.
func (p *Participant) handleCandidate(target string, c *signal.Candidate) error {
	if strings.TrimSpace(c.Candidate) == "" {
		return nil // end-of-candidates
	}
	init := webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
	p.mu.Lock()
	pc := p.pubPC
	if target == signal.TargetSubscriber {
		pc = p.subPC
	}
	held := p.heldCandidates(target)
	switch {
	case target == signal.TargetPublisher && !p.grant.CanPublish:
		p.mu.Unlock()
		return signal.Errorf(signal.CodeForbidden, "token does not grant publish")
	case target == signal.TargetSubscriber && pc == nil:
		p.mu.Unlock()
		return signal.Errorf(signal.CodeBadRequest, "no %s connection: the token does not grant subscribe", target)
	case pc == nil || pc.RemoteDescription() == nil:
		if len(*held) >= maxEarlyCandidates {
			p.mu.Unlock()
			return signal.Errorf(signal.CodeBadRequest, "more than %d %s candidates before its description", maxEarlyCandidates, target)
		}
		*held = append(*held, init)
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	if err := safely(func() error { return pc.AddICECandidate(init) }); err != nil {
		return signal.Errorf(signal.CodeBadRequest, "bad candidate: %v", err)
	}
	return nil
}

// heldCandidates is where target's early candidates wait; p.mu is held.
func (p *Participant) heldCandidates(target string) *[]webrtc.ICECandidateInit {
	if target == signal.TargetSubscriber {
		return &p.earlySub
	}
	return &p.early
}

// flushEarlyCandidates adds the target's candidates held until pc had its
// remote description.
func (p *Participant) flushEarlyCandidates(pc *webrtc.PeerConnection, target string) {
	p.mu.Lock()
	held := p.heldCandidates(target)
	early := *held
	*held = nil
	p.mu.Unlock()
	for _, c := range early {
		if err := safely(func() error { return pc.AddICECandidate(c) }); err != nil {
			p.send(signal.ErrorMessage(signal.Errorf(signal.CodeBadRequest, "bad candidate %q: %v", c.Candidate, err)))
		}
	}
}

// writeRTCP sends RTCP to the publisher.
func (p *Participant) writeRTCP(pkts []rtcp.Packet) error {
	p.mu.Lock()
	pc := p.pubPC
	p.mu.Unlock()
	fresh := pc == nil
	if fresh {
		return ErrClosed
	}
	return pc.WriteRTCP(pkts)
}

// close tears down both PeerConnections and waits for every goroutine the
// participant started. The room has already removed it.
func (p *Participant) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	if p.ctrl != nil {
		p.ctrl.stop()
	}
	pub, sub := p.pubPC, p.subPC
	downs := p.downs
	p.downs = map[string]*DownTrack{}
	p.mu.Unlock()
	for _, d := range downs {
		d.receiver.removeDown(d)
		p.srv.m.TracksSubscribed(d.mk).Dec()
	}
	if pub != nil {
		if err := pub.Close(); err != nil {
			p.log.Debug("close publisher pc", "err", err)
		}
	}
	if p.dl != nil {
		p.dl.close()
	}
	if sub != nil {
		if err := sub.Close(); err != nil {
			p.log.Debug("close subscriber pc", "err", err)
		}
	}
	p.wg.Wait()
}

// handleSubscription applies a subscriber's layer preference for one track.
func (p *Participant) handleSubscription(m signal.Message) error {
	p.mu.Lock()
	d := p.downs[m.TrackID]
	p.mu.Unlock()
	if d == nil {
		return signal.Errorf(signal.CodeUnknownTrack, "not subscribed to track %q", m.TrackID)
	}
	if m.MaxLayer != "" {
		d.maxLayer.Store(int32(signal.LayerIndex(m.MaxLayer)))
	}
	if m.Paused != nil {
		d.visible.Store(!*m.Paused)
	}
	return nil
}

// downTracks returns the participant's subscriptions in subscription order.
func (p *Participant) downTracks(dst []*DownTrack) []*DownTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	dst = dst[:0]
	for _, d := range p.downs {
		dst = append(dst, d)
	}
	return dst
}
