package sfu

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/signal"
)

// startServer runs an SFU on free loopback ports for one test.
func startServer(t testing.TB, mutate func(*Config), opts ...Option) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr, cfg.RTC.UDPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Room.EmptyTimeout = 100 * time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := NewServer(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func devToken(t testing.TB, room, identity string) string {
	t.Helper()
	tok, err := auth.Mint(auth.DevAPIKey, auth.DevAPISecret, auth.Grant{Room: room, Identity: identity, CanPublish: true, CanSubscribe: true}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// testClient is a minimal Pion client of Surge's signaling, for tests.
type testClient struct {
	t     *testing.T
	conn  *websocket.Conn
	api   *webrtc.API
	pcCfg webrtc.Configuration // both PeerConnections (ICE servers, transport policy)
	// iceFromJoined, if set, picks pcCfg.ICEServers from joined's ice_servers.
	iceFromJoined func([]signal.ICEServer) []webrtc.ICEServer
	id            string
	joined        signal.Message

	mu     sync.Mutex
	pub    *webrtc.PeerConnection
	sub    *webrtc.PeerConnection
	events []signal.Message
	tracks map[string]*recvTrack

	eventCh chan signal.Message
	done    chan struct{}
	wg      sync.WaitGroup
}

type recvTrack struct {
	track *webrtc.TrackRemote
	mu    sync.Mutex
	pkts  []rtp.Packet
	srs   []rtcp.SenderReport // the SFU's sender reports for this track
}

func (r *recvTrack) senderReports() []rtcp.SenderReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rtcp.SenderReport(nil), r.srs...)
}

func (r *recvTrack) snapshot() []rtp.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rtp.Packet(nil), r.pkts...)
}

func clientAPI(t *testing.T) *webrtc.API { return clientAPIWith(t, nil) }

// clientAPIWith is clientAPI with its settings adjusted by tune (nil: none).
func clientAPIWith(t *testing.T, tune func(*webrtc.SettingEngine)) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uriAbsCaptureTime}, k); err != nil {
			t.Fatal(err)
		}
	}
	ir := &interceptor.Registry{}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	// Tests NACK packets that did arrive, so the retransmission must not be
	// discarded as an SRTP replay.
	se.DisableSRTPReplayProtection(true)
	if tune != nil {
		tune(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// dial opens the socket and sends join; it does not wait for joined.
func dial(t *testing.T, s *Server, token string) *testClient {
	t.Helper()
	return dialWith(t, s, token, nil)
}

// dialWith is dial with setup applied to the client before it reads
// anything (its API, PeerConnection settings).
func dialWith(t *testing.T, s *Server, token string, setup func(*testClient)) *testClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, s.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(1 << 20)
	c := &testClient{t: t, conn: conn, api: clientAPI(t), tracks: map[string]*recvTrack{}, eventCh: make(chan signal.Message, 1024), done: make(chan struct{})}
	if setup != nil {
		setup(c)
	}
	c.wg.Add(1)
	go c.readLoop()
	t.Cleanup(c.close)
	if token != "" {
		c.send(signal.Message{Type: signal.TypeJoin, Token: token})
	}
	return c
}

// join dials and waits for joined.
func join(t *testing.T, s *Server, room, identity string) *testClient {
	t.Helper()
	c := dial(t, s, devToken(t, room, identity))
	c.joined = c.waitFor(signal.TypeJoined, 10*time.Second)
	c.id = c.joined.ParticipantID
	return c
}

func (c *testClient) send(m signal.Message) {
	data, _ := json.Marshal(m)
	c.sendRaw(data)
}

func (c *testClient) sendRaw(data []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.conn.Write(ctx, websocket.MessageText, data)
}

// closing reports whether close has begun.
func (c *testClient) closing() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *testClient) close() {
	select {
	case <-c.done:
		return
	default:
	}
	close(c.done)
	_ = c.conn.CloseNow()
	c.mu.Lock()
	pub, sub := c.pub, c.sub
	c.mu.Unlock()
	if pub != nil {
		_ = pub.Close()
	}
	if sub != nil {
		_ = sub.Close()
	}
	c.wg.Wait()
}

func (c *testClient) readLoop() {
	defer c.wg.Done()
	defer close(c.eventCh)
	for {
		_, data, err := c.conn.Read(context.Background())
		if err != nil {
			return
		}
		var m signal.Message
		if err := json.Unmarshal(data, &m); err != nil {
			c.t.Errorf("server sent invalid JSON: %s", data)
			return
		}
		if m.Type != signal.TypeEvents {
			c.handle(m)
			continue
		}
		// Room events that happened close together: each as if alone.
		for _, ev := range m.Events {
			c.handle(ev)
		}
	}
}

func (c *testClient) handle(m signal.Message) {
	switch {
	case m.Type == signal.TypeJoined && c.iceFromJoined != nil:
		c.mu.Lock()
		c.pcCfg.ICEServers = c.iceFromJoined(m.ICEServers)
		c.mu.Unlock()
	case m.Type == signal.TypeOffer && m.Target == signal.TargetSubscriber:
		c.answerSubscriber(m.SDP)
	case m.Type == signal.TypeAnswer && m.Target == signal.TargetPublisher:
		c.mu.Lock()
		pc := c.pub
		c.mu.Unlock()
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
			c.t.Errorf("publisher answer: %v", err)
		}
	case m.Type == signal.TypeCandidate:
		c.mu.Lock()
		pc := c.pub
		if m.Target == signal.TargetSubscriber {
			pc = c.sub
		}
		c.mu.Unlock()
		if pc != nil {
			_ = pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid, SDPMLineIndex: m.Candidate.SDPMLineIndex})
		}
	case m.Type == signal.TypePing:
		c.send(signal.Message{Type: signal.TypePong})
	}
	c.mu.Lock()
	c.events = append(c.events, m)
	c.mu.Unlock()
	select {
	case c.eventCh <- m:
	default:
	}
}

func (c *testClient) answerSubscriber(offer string) {
	c.mu.Lock()
	if c.sub == nil {
		pc, err := c.api.NewPeerConnection(c.pcCfg)
		if err != nil {
			c.mu.Unlock()
			c.t.Errorf("new pc: %v", err)
			return
		}
		pc.OnICECandidate(func(ic *webrtc.ICECandidate) { c.trickle(ic, signal.TargetSubscriber) })
		pc.OnTrack(func(tr *webrtc.TrackRemote, rx *webrtc.RTPReceiver) {
			rt := &recvTrack{track: tr}
			c.mu.Lock()
			c.tracks[tr.ID()] = rt
			c.mu.Unlock()
			c.wg.Add(2)
			go func() {
				defer c.wg.Done()
				for {
					pkts, _, err := rx.ReadRTCP()
					if err != nil {
						return
					}
					for _, p := range pkts {
						if sr, ok := p.(*rtcp.SenderReport); ok {
							rt.mu.Lock()
							rt.srs = append(rt.srs, *sr)
							rt.mu.Unlock()
						}
					}
				}
			}()
			go func() {
				defer c.wg.Done()
				buf := make([]byte, 1500)
				for {
					n, _, err := tr.Read(buf)
					if err != nil {
						return
					}
					var p rtp.Packet
					if p.Unmarshal(append([]byte(nil), buf[:n]...)) == nil {
						rt.mu.Lock()
						rt.pkts = append(rt.pkts, p)
						rt.mu.Unlock()
					}
				}
			}()
		})
		c.sub = pc
	}
	pc := c.sub
	c.mu.Unlock()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		if !c.closing() { // an offer that crosses the test's close is no fault
			c.t.Errorf("subscriber offer: %v", err)
		}
		return
	}
	ans, err := pc.CreateAnswer(nil)
	if err == nil {
		err = pc.SetLocalDescription(ans)
	}
	if err != nil {
		if !c.closing() {
			c.t.Errorf("subscriber answer: %v", err)
		}
		return
	}
	c.send(signal.Message{Type: signal.TypeAnswer, Target: signal.TargetSubscriber, SDP: pc.LocalDescription().SDP})
}

func (c *testClient) trickle(ic *webrtc.ICECandidate, target string) {
	if ic == nil {
		return
	}
	j := ic.ToJSON()
	c.send(signal.Message{Type: signal.TypeCandidate, Target: target, Candidate: &signal.Candidate{Candidate: j.Candidate, SDPMid: j.SDPMid, SDPMLineIndex: j.SDPMLineIndex}})
}

// publish sends an offer with one Opus and one VP8 track.
func (c *testClient) publish() (audio, video *webrtc.TrackLocalStaticRTP, videoSender *webrtc.RTPSender) {
	c.t.Helper()
	pc, err := c.api.NewPeerConnection(c.pcCfg)
	if err != nil {
		c.t.Fatal(err)
	}
	pc.OnICECandidate(func(ic *webrtc.ICECandidate) { c.trickle(ic, signal.TargetPublisher) })
	audio, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", "s")
	video, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "s")
	if _, err := pc.AddTrack(audio); err != nil {
		c.t.Fatal(err)
	}
	if videoSender, err = pc.AddTrack(video); err != nil {
		c.t.Fatal(err)
	}
	c.offerPublisher(pc)
	return audio, video, videoSender
}

// waitFor returns the next event of type typ (skipping others).
func (c *testClient) waitFor(typ string, d time.Duration) signal.Message {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-c.eventCh:
			if !ok {
				c.t.Fatalf("connection closed while waiting for %s", typ)
			}
			if m.Type == typ {
				return m
			}
		case <-deadline:
			c.t.Fatalf("no %s within %s", typ, d)
		}
	}
}

// waitError returns the next error event's code, or "" when the socket closed first.
func (c *testClient) waitError(d time.Duration) signal.Code {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-c.eventCh:
			if !ok {
				return ""
			}
			if m.Type == signal.TypeError {
				return m.Code
			}
		case <-deadline:
			c.t.Fatalf("no error within %s", d)
		}
	}
}

func (c *testClient) track(id string) *recvTrack {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tracks[id]
}

func (c *testClient) trackCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.tracks)
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// offerPublisher makes pc the client's publish connection and sends its offer.
func (c *testClient) offerPublisher(pc *webrtc.PeerConnection) {
	c.t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.pub = pc
	c.mu.Unlock()
	c.send(signal.Message{Type: signal.TypeOffer, Target: signal.TargetPublisher, SDP: pc.LocalDescription().SDP})
}

// dialAPI is dial with the client's own webrtc API.
func dialAPI(t *testing.T, s *Server, token string, api *webrtc.API) *testClient {
	t.Helper()
	return dialWith(t, s, token, func(c *testClient) { c.api = api })
}
