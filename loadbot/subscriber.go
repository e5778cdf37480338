package loadbot

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/loadbot/stats"
	"github.com/surgertc/surge/sfu/signal"
)

// pliInterval is how often a subscriber that has no keyframe yet asks for
// one, as a browser's decoder does.
const pliInterval = time.Second

// subscriber owns a bot's subscribe PeerConnection. The server offers on it
// (and offers again as tracks come and go); each track gets a read loop on
// the goroutine Pion starts for OnTrack.
type subscriber struct {
	b *bot

	mu     sync.Mutex
	pc     *webrtc.PeerConnection
	cands  candidates
	tracks []*trackRecv
	closed bool
	wg     sync.WaitGroup // read loops

	gotMedia atomic.Bool
}

// trackRecv is one received track's statistics. The read loop is the only
// writer; mu lets the runner take a snapshot once a second. Uncontended, the
// lock costs less than the clock read beside it.
type trackRecv struct {
	mu    sync.Mutex
	st    *stats.TrackStats
	kind  stats.Kind
	id    string
	final bool
}

func newSubscriber(b *bot) *subscriber { return &subscriber{b: b} }

// onOffer answers a server offer, creating the PeerConnection the first
// time. It runs on the signaling read goroutine, so offers apply in order.
func (s *subscriber) onOffer(sdpText string) error {
	s.mu.Lock()
	pc, closed := s.pc, s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	if pc == nil {
		api, err := s.b.env.apiFor(s.b.spec, s.b.link)
		if err != nil {
			return err
		}
		if pc, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
			return err
		}
		pc.OnConnectionStateChange(s.b.pcStateChange)
		pc.OnTrack(s.onTrack)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return pc.Close()
		}
		s.pc = pc
		s.mu.Unlock()
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

func (s *subscriber) onTrack(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	kind, clock := stats.KindAudio, uint32(opusClockRate)
	if track.Kind() == webrtc.RTPCodecTypeVideo {
		kind, clock = stats.KindVideo, vp8ClockRate
	}
	tr := &trackRecv{st: stats.NewTrackStats(kind, clock, stats.WithStart(s.b.start)), kind: kind, id: track.ID()}
	s.mu.Lock()
	if s.closed || s.pc == nil { // closed, or reset for a reconnect
		s.mu.Unlock()
		return
	}
	s.tracks = append(s.tracks, tr)
	s.wg.Add(1)
	pc := s.pc
	s.mu.Unlock()
	defer s.wg.Done()

	s.b.env.nackTracks.Store(uint32(track.SSRC()), tr.st)
	defer s.b.env.nackTracks.Delete(uint32(track.SSRC()))
	var absID uint8
	for _, e := range recv.GetParameters().HeaderExtensions {
		if e.URI == absCaptureTimeURI {
			absID = uint8(e.ID)
		}
	}
	s.readLoop(track, pc, tr, absID)
}

// readLoop is the per-packet path: read into one buffer, unmarshal into
// one packet, parse in place, record. No allocation per packet.
func (s *subscriber) readLoop(track *webrtc.TrackRemote, pc *webrtc.PeerConnection, tr *trackRecv, absID uint8) {
	m := s.b.env.metrics
	layers := s.b.env.cfg.Layers
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	var haveKey bool
	var lastPLI time.Time
	pli := []rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(track.SSRC())}}
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		now := time.Now()
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		info := stats.PacketInfo{
			SequenceNumber: pkt.SequenceNumber,
			Timestamp:      pkt.Timestamp,
			Marker:         pkt.Marker,
			PayloadLen:     len(pkt.Payload),
		}
		if absID != 0 {
			if e := pkt.GetExtension(absID); len(e) >= 8 {
				info.CaptureTime = time.Unix(0, fromNTP(binary.BigEndian.Uint64(e)))
				m.ObserveLatency(now.Sub(info.CaptureTime))
			}
		}
		if tr.kind == stats.KindVideo {
			if v, ok := parseVP8(pkt.Payload); ok && v.keyframe {
				haveKey = true
				info.Keyframe = true
				info.KeyframeWidth, info.KeyframeHeight = v.width, v.height
				info.Layer = layerForWidth(layers, v.width)
			}
			if !haveKey && now.Sub(lastPLI) >= pliInterval {
				// Nothing decodes before a keyframe: ask, as a browser does.
				lastPLI = now
				if pc.WriteRTCP(pli) == nil {
					tr.st.AddPLI()
				}
			}
		}
		tr.mu.Lock()
		tr.st.OnPacket(info, now)
		tr.mu.Unlock()
		if h := s.b.env.packetHook; h != nil {
			h(s.b, tr.kind, &pkt, now)
		}
		m.PacketsReceived().Inc()
		if !s.gotMedia.Load() && s.gotMedia.CompareAndSwap(false, true) {
			s.b.emit(botEvent{kind: "media"})
		}
	}
}

// snapshots returns every track's statistics so far.
func (s *subscriber) snapshots() []stats.Snapshot {
	s.mu.Lock()
	tracks := append([]*trackRecv(nil), s.tracks...)
	s.mu.Unlock()
	out := make([]stats.Snapshot, 0, len(tracks))
	for _, t := range tracks {
		t.mu.Lock()
		out = append(out, t.st.Snapshot())
		t.mu.Unlock()
	}
	return out
}

// aggregate adds every track's statistics to a without copying snapshots
// out one by one.
func (s *subscriber) aggregate(a *stats.Aggregate) {
	s.mu.Lock()
	tracks := append([]*trackRecv(nil), s.tracks...)
	s.mu.Unlock()
	for _, t := range tracks {
		t.mu.Lock()
		snap := t.st.Snapshot()
		t.mu.Unlock()
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
	if pc != nil {
		_ = pc.Close()
	}
	s.wg.Wait()
	now := time.Now()
	for _, t := range s.tracks {
		t.mu.Lock()
		if !t.final {
			t.st.Finish(now)
			t.final = true
		}
		t.mu.Unlock()
	}
}
