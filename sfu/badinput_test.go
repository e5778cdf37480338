package sfu

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/signal"
)

// rawClient is a signaling client that does only what the test says: no
// automatic pong, no answers, no ICE. It lets a test be the rude peer.
type rawClient struct {
	t      *testing.T
	conn   *websocket.Conn
	msgs   chan signal.Message
	closed chan struct{} // closed when the socket's read side ends
	err    error         // why it ended; valid once closed is closed
}

func dialRaw(t *testing.T, s *Server) *rawClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, s.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(1 << 20)
	c := &rawClient{t: t, conn: conn, msgs: make(chan signal.Message, 256), closed: make(chan struct{})}
	go func() {
		defer close(c.closed)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			var m signal.Message
			if err := json.Unmarshal(data, &m); err != nil {
				t.Errorf("server sent invalid JSON %q: %v", data, err)
				continue
			}
			select {
			case c.msgs <- m:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = conn.CloseNow()
		<-c.closed
	})
	return c
}

func (c *rawClient) write(typ websocket.MessageType, data []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, typ, data); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawClient) sendText(s string) { c.write(websocket.MessageText, []byte(s)) }

func (c *rawClient) send(m signal.Message) {
	data, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(websocket.MessageText, data)
}

// next returns the next message of type typ, skipping others (pings,
// room events); ok is false when the socket closed first.
func (c *rawClient) next(typ string, d time.Duration) (signal.Message, bool) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-c.msgs:
			if m.Type == typ {
				return m, true
			}
		case <-c.closed:
			// Deliver what arrived before the close.
			for {
				select {
				case m := <-c.msgs:
					if m.Type == typ {
						return m, true
					}
				default:
					return signal.Message{}, false
				}
			}
		case <-deadline:
			c.t.Fatalf("no %s within %s", typ, d)
		}
	}
}

// first returns the next message of any of types; ok is false when the
// socket closed first.
func (c *rawClient) first(d time.Duration, types ...string) (signal.Message, bool) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-c.msgs:
			for _, typ := range types {
				if m.Type == typ {
					return m, true
				}
			}
		case <-c.closed:
			return signal.Message{}, false
		case <-deadline:
			c.t.Fatalf("none of %v within %s", types, d)
		}
	}
}

// expectAccepted proves the last request succeeded: the pong to a ping
// sent after it comes back with no error before it.
func (c *rawClient) expectAccepted(what string) {
	c.t.Helper()
	c.send(signal.Message{Type: signal.TypePing})
	m, ok := c.first(5*time.Second, signal.TypePong, signal.TypeError)
	if !ok {
		c.t.Fatalf("%s: socket closed (%v)", what, c.err)
	}
	if m.Type == signal.TypeError {
		c.t.Fatalf("%s was refused: %s %s", what, m.Code, m.Reason)
	}
}

// expectError waits for an error message with code.
func (c *rawClient) expectError(code signal.Code) {
	c.t.Helper()
	m, ok := c.next(signal.TypeError, 5*time.Second)
	if !ok {
		c.t.Fatalf("socket closed (%v) before the %s error", c.err, code)
	}
	if m.Code != code {
		c.t.Fatalf("error code %s (%s), want %s", m.Code, m.Reason, code)
	}
}

// expectClosed waits for the server to close the socket.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		c.t.Fatal("the server kept the socket open")
	}
}

// expectOpen proves the session goes on: a ping is still answered.
func (c *rawClient) expectOpen() {
	c.t.Helper()
	c.send(signal.Message{Type: signal.TypePing})
	if _, ok := c.next(signal.TypePong, 5*time.Second); !ok {
		c.t.Fatalf("the socket closed (%v); it should have stayed open", c.err)
	}
}

// joinAs sends join with token and waits for joined.
func (c *rawClient) joinAs(token string) signal.Message {
	c.t.Helper()
	c.send(signal.Message{Type: signal.TypeJoin, Token: token})
	m, ok := c.next(signal.TypeJoined, 10*time.Second)
	if !ok {
		c.t.Fatalf("socket closed (%v) before joined", c.err)
	}
	return m
}

func mintToken(t *testing.T, key, secret string, g auth.Grant, ttl time.Duration, now time.Time) string {
	t.Helper()
	tok, err := auth.Mint(key, secret, g, ttl, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func grantToken(t *testing.T, room, identity string, publish, subscribe bool) string {
	t.Helper()
	return mintToken(t, auth.DevAPIKey, auth.DevAPISecret, auth.Grant{Room: room, Identity: identity, CanPublish: publish, CanSubscribe: subscribe}, time.Hour, time.Now())
}

// offerSDP is a client offer that sends one track of each kind given, made
// by a real Pion PeerConnection so the server parses what browsers send.
func offerSDP(t *testing.T, kinds ...webrtc.RTPCodecType) string {
	t.Helper()
	pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// publishVideo offers one VP8 track (publish sends audio and video, which
// a one-track limit refuses).
func (c *testClient) publishVideo() *webrtc.TrackLocalStaticRTP {
	c.t.Helper()
	pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		c.t.Fatal(err)
	}
	pc.OnICECandidate(func(ic *webrtc.ICECandidate) { c.trickle(ic, signal.TargetPublisher) })
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "s")
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := pc.AddTrack(video); err != nil {
		c.t.Fatal(err)
	}
	c.offerPublisher(pc)
	return video
}

func (r *recvTrack) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pkts)
}

// joinCounts reads surge_joins_total by result from the server's registry.
func joinCounts(t *testing.T, s *Server) map[string]float64 {
	t.Helper()
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "surge_joins_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// httpStatus GETs url without keeping the connection (goleak would see an
// idle keep-alive connection's goroutines as a leak).
func httpStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// liveStream is a publisher streaming VP8 to one subscriber, the room that
// every bad input must leave alone.
type liveStream struct {
	s     *Server
	pub   *testClient
	sub   *testClient
	pump  *pump
	track *recvTrack
}

const liveRoom = "live"

func startLiveStream(t *testing.T, s *Server) *liveStream {
	t.Helper()
	ls := &liveStream{s: s}
	ls.pub = join(t, s, liveRoom, "publisher")
	ls.sub = join(t, s, liveRoom, "subscriber")
	video := ls.pub.publishVideo()
	ls.pump = startPump(video, 10*time.Millisecond, 1000, 3000)
	t.Cleanup(ls.pump.halt)
	eventually(t, 15*time.Second, "the subscriber's track", func() bool { return ls.sub.trackCount() == 1 })
	ls.sub.mu.Lock()
	for _, tr := range ls.sub.tracks {
		ls.track = tr
	}
	ls.sub.mu.Unlock()
	ls.assertFlowing(t)
	return ls
}

// assertFlowing: the subscriber keeps receiving and the node stays healthy.
func (ls *liveStream) assertFlowing(t *testing.T) {
	t.Helper()
	n := ls.track.count()
	eventually(t, 5*time.Second, "the subscriber to keep receiving", func() bool { return ls.track.count() >= n+20 })
	if code, _ := httpStatus(t, ls.s.AdminURL()+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz answered %d", code)
	}
}

// TestBadInputIsContained sends one kind of bad input per subtest to a node
// that is forwarding a live stream. Each must get its documented error code
// (docs/signaling.md), close the socket exactly when the docs say, be
// counted in surge_joins_total when it is a refused join, and leave the
// stream flowing and the node healthy.
func TestBadInputIsContained(t *testing.T) {
	const (
		pingInterval = 300 * time.Millisecond
		pingTimeout  = 1500 * time.Millisecond
		joinTimeout  = 1500 * time.Millisecond
	)
	s := startServer(t, func(c *Config) {
		c.Room.MaxParticipants = 2
		c.Room.MaxTracksPerParticipant = 1
		c.Signal.PingInterval = pingInterval
		c.Signal.PingTimeout = pingTimeout
		c.Signal.JoinTimeout = joinTimeout
	})
	maxMsg := s.cfg.Signal.MaxMessageBytes
	videoOffer := offerSDP(t, webrtc.RTPCodecTypeVideo)
	avOffer := offerSDP(t, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo)
	ls := startLiveStream(t, s)

	// refused runs a join that must be refused with code, counted under
	// result, and closed.
	refused := func(t *testing.T, join signal.Message, code signal.Code, result string) {
		t.Helper()
		before := joinCounts(t, s)
		c := dialRaw(t, s)
		c.send(join)
		c.expectError(code)
		c.expectClosed()
		after := joinCounts(t, s)
		for r, v := range after {
			want := 0.0
			if r == result {
				want = 1
			}
			if d := v - before[r]; d != want {
				t.Errorf("surge_joins_total{result=%q} moved by %v, want %v", r, d, want)
			}
		}
	}
	// joined returns a raw client joined to a room of its own (the live
	// room is full by design).
	joined := func(t *testing.T, token string) *rawClient {
		t.Helper()
		c := dialRaw(t, s)
		c.joinAs(token)
		return c
	}
	own := func(t *testing.T) string { return "room-" + strings.ReplaceAll(t.Name(), "/", "-") }

	t.Run("malformed JSON before join closes", func(t *testing.T) {
		before := joinCounts(t, s)
		c := dialRaw(t, s)
		c.sendText(`{"type":"join",`)
		c.expectError(signal.CodeBadRequest)
		c.expectClosed()
		if d := joinCounts(t, s)[metrics.JoinBadRequest] - before[metrics.JoinBadRequest]; d != 1 {
			t.Errorf("bad_request joins moved by %v, want 1", d)
		}
		ls.assertFlowing(t)
	})
	t.Run("malformed JSON after join keeps the session", func(t *testing.T) {
		c := joined(t, devToken(t, own(t), "a"))
		c.sendText(`{"type":"ping"`)
		c.expectError(signal.CodeBadRequest)
		c.expectOpen()
		ls.assertFlowing(t)
	})
	t.Run("unknown type before join closes", func(t *testing.T) {
		c := dialRaw(t, s)
		c.sendText(`{"type":"hello"}`)
		c.expectError(signal.CodeUnknownType)
		c.expectClosed()
		ls.assertFlowing(t)
	})
	t.Run("unknown type after join keeps the session", func(t *testing.T) {
		c := joined(t, devToken(t, own(t), "a"))
		c.sendText(`{"type":"hello"}`)
		c.expectError(signal.CodeUnknownType)
		c.expectOpen()
		ls.assertFlowing(t)
	})
	t.Run("oversized message closes", func(t *testing.T) {
		c := joined(t, devToken(t, own(t), "a"))
		c.sendText(`{"type":"ping","pad":"` + strings.Repeat("x", maxMsg) + `"}`)
		c.expectError(signal.CodeTooLarge)
		c.expectClosed()
		eventually(t, 5*time.Second, "the participant to be removed", func() bool {
			for _, r := range s.Snapshot() {
				if r.Name == own(t) && len(r.Participants) > 0 {
					return false
				}
			}
			return true
		})
		ls.assertFlowing(t)
	})
	t.Run("oversized message before join closes", func(t *testing.T) {
		refused(t, signal.Message{Type: signal.TypeJoin, Token: strings.Repeat("x", maxMsg+1)}, signal.CodeTooLarge, metrics.JoinBadRequest)
		ls.assertFlowing(t)
	})
	t.Run("message over the socket limit closes", func(t *testing.T) {
		c := joined(t, devToken(t, own(t), "a"))
		// The write itself may fail once the server slams the door.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = c.conn.Write(ctx, websocket.MessageText, []byte(`{"type":"ping","pad":"`+strings.Repeat("x", 4*maxMsg+1)+`"}`))
		cancel()
		c.expectClosed()
		if st := websocket.CloseStatus(c.err); st != websocket.StatusMessageTooBig && st != -1 {
			t.Errorf("close status %v, want %v (or an abrupt close)", st, websocket.StatusMessageTooBig)
		}
		ls.assertFlowing(t)
	})
	t.Run("binary frame before join closes", func(t *testing.T) {
		c := dialRaw(t, s)
		c.write(websocket.MessageBinary, []byte(`{"type":"join","token":"x"}`))
		c.expectError(signal.CodeBadRequest)
		c.expectClosed()
		ls.assertFlowing(t)
	})
	t.Run("binary frame after join keeps the session", func(t *testing.T) {
		c := joined(t, devToken(t, own(t), "a"))
		c.write(websocket.MessageBinary, []byte(`{"type":"ping"}`))
		c.expectError(signal.CodeBadRequest)
		c.expectOpen()
		ls.assertFlowing(t)
	})
	t.Run("invalid SDP keeps the session", func(t *testing.T) {
		c := joined(t, devToken(t, own(t), "a"))
		c.send(signal.Message{Type: signal.TypeOffer, Target: signal.TargetPublisher, SDP: "this is not SDP"})
		c.expectError(signal.CodeInvalidSDP)
		// An SDP that parses but cannot be applied (no media, no ICE).
		c.send(signal.Message{Type: signal.TypeOffer, Target: signal.TargetPublisher, SDP: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"})
		c.expectError(signal.CodeInvalidSDP)
		c.expectOpen()
		// docs/signaling.md: the client "may correct the request and
		// retry", so a valid offer after the invalid ones is answered.
		c.send(signal.Message{Type: signal.TypeOffer, Target: signal.TargetPublisher, SDP: videoOffer})
		m, ok := c.first(5*time.Second, signal.TypeAnswer, signal.TypeError)
		if !ok || m.Type != signal.TypeAnswer {
			t.Errorf("a valid offer after a rejected one was not answered: %s %s", m.Code, m.Reason)
		}
		ls.assertFlowing(t)
	})
	t.Run("invalid subscriber answer can be corrected", func(t *testing.T) {
		room := own(t)
		pub := join(t, s, room, "pub")
		p := startPump(pub.publishVideo(), 20*time.Millisecond, 500, 3000)
		defer p.halt()
		c := joined(t, grantToken(t, room, "sub", false, true))
		offer, ok := c.next(signal.TypeOffer, 15*time.Second)
		if !ok {
			t.Fatal("no subscriber offer")
		}
		c.send(signal.Message{Type: signal.TypeAnswer, Target: signal.TargetSubscriber, SDP: "not SDP"})
		c.expectError(signal.CodeInvalidSDP)
		// Parses, but has no mid: Pion rejects it after its state check.
		c.send(signal.Message{Type: signal.TypeAnswer, Target: signal.TargetSubscriber, SDP: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"})
		c.expectError(signal.CodeInvalidSDP)
		pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = pc.Close() }()
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.SDP}); err != nil {
			t.Fatal(err)
		}
		answer, err := pc.CreateAnswer(nil)
		if err != nil {
			t.Fatal(err)
		}
		c.send(signal.Message{Type: signal.TypeAnswer, Target: signal.TargetSubscriber, SDP: answer.SDP})
		c.expectAccepted("the corrected answer")
		ls.assertFlowing(t)
	})
	t.Run("answer without an offer in flight", func(t *testing.T) {
		c := joined(t, grantToken(t, own(t), "a", true, false))
		c.send(signal.Message{Type: signal.TypeAnswer, Target: signal.TargetSubscriber, SDP: videoOffer})
		c.expectError(signal.CodeBadRequest)
		c.expectOpen()
		ls.assertFlowing(t)
	})
	t.Run("bad token signature", func(t *testing.T) {
		tok := mintToken(t, auth.DevAPIKey, "not-the-secret", auth.Grant{Room: "x", Identity: "a", CanPublish: true, CanSubscribe: true}, time.Hour, time.Now())
		refused(t, signal.Message{Type: signal.TypeJoin, Token: tok}, signal.CodeUnauthorized, metrics.JoinUnauthorized)
		ls.assertFlowing(t)
	})
	t.Run("garbage token", func(t *testing.T) {
		refused(t, signal.Message{Type: signal.TypeJoin, Token: "garbage.garbage.garbage"}, signal.CodeUnauthorized, metrics.JoinUnauthorized)
		ls.assertFlowing(t)
	})
	t.Run("token of an unknown key", func(t *testing.T) {
		tok := mintToken(t, "otherkey", "othersecret", auth.Grant{Room: "x", Identity: "a", CanPublish: true, CanSubscribe: true}, time.Hour, time.Now())
		refused(t, signal.Message{Type: signal.TypeJoin, Token: tok}, signal.CodeUnauthorized, metrics.JoinUnauthorized)
		ls.assertFlowing(t)
	})
	t.Run("expired token", func(t *testing.T) {
		tok := mintToken(t, auth.DevAPIKey, auth.DevAPISecret, auth.Grant{Room: "x", Identity: "a", CanPublish: true, CanSubscribe: true}, time.Minute, time.Now().Add(-time.Hour))
		refused(t, signal.Message{Type: signal.TypeJoin, Token: tok}, signal.CodeTokenExpired, metrics.JoinTokenExpired)
		ls.assertFlowing(t)
	})
	t.Run("token for another room", func(t *testing.T) {
		// No room_mismatch result exists in surge_joins_total; it counts as forbidden.
		refused(t, signal.Message{Type: signal.TypeJoin, Token: devToken(t, "x", "a"), Room: "y"}, signal.CodeRoomMismatch, metrics.JoinForbidden)
		ls.assertFlowing(t)
	})
	t.Run("token with neither grant", func(t *testing.T) {
		refused(t, signal.Message{Type: signal.TypeJoin, Token: grantToken(t, "x", "a", false, false)}, signal.CodeForbidden, metrics.JoinForbidden)
		ls.assertFlowing(t)
	})
	t.Run("publish with a subscribe-only token", func(t *testing.T) {
		c := joined(t, grantToken(t, own(t), "a", false, true))
		c.send(signal.Message{Type: signal.TypeOffer, Target: signal.TargetPublisher, SDP: videoOffer})
		c.expectError(signal.CodeForbidden)
		c.expectOpen()
		ls.assertFlowing(t)
	})
	t.Run("full room", func(t *testing.T) {
		refused(t, signal.Message{Type: signal.TypeJoin, Token: devToken(t, liveRoom, "third")}, signal.CodeRoomFull, metrics.JoinRoomFull)
		// The two members were not disturbed.
		for _, r := range s.Snapshot() {
			if r.Name == liveRoom && len(r.Participants) != 2 {
				t.Fatalf("live room has %d participants", len(r.Participants))
			}
		}
		ls.assertFlowing(t)
	})
	t.Run("too many tracks", func(t *testing.T) {
		c := joined(t, devToken(t, own(t), "a"))
		c.send(signal.Message{Type: signal.TypeOffer, Target: signal.TargetPublisher, SDP: avOffer})
		c.expectError(signal.CodeTooManyTracks)
		c.expectOpen()
		ls.assertFlowing(t)
	})
	t.Run("first message not join", func(t *testing.T) {
		refused(t, signal.Message{Type: signal.TypePing}, signal.CodeNotJoined, metrics.JoinBadRequest)
		ls.assertFlowing(t)
	})
	t.Run("second join on one socket", func(t *testing.T) {
		room := own(t)
		c := joined(t, devToken(t, room, "a"))
		c.send(signal.Message{Type: signal.TypeJoin, Token: devToken(t, room, "b")})
		c.expectError(signal.CodeAlreadyJoined)
		c.expectOpen()
		for _, r := range s.Snapshot() {
			if r.Name == room && len(r.Participants) != 1 {
				t.Fatalf("the second join admitted someone: %d participants", len(r.Participants))
			}
		}
		ls.assertFlowing(t)
	})
	t.Run("silent client is disconnected after ping_timeout", func(t *testing.T) {
		c := joined(t, devToken(t, own(t), "a"))
		start := time.Now()
		c.expectClosed()
		if el := time.Since(start); el < pingTimeout/2 {
			t.Fatalf("disconnected after %s, before ping_timeout %s", el, pingTimeout)
		}
		// docs/signaling.md: "A client silent for that long gets a timeout
		// error and the socket closes."
		if _, ok := c.next(signal.TypeError, time.Second); !ok {
			t.Errorf("the silent client was cut off without the documented %q error (close: %v)", signal.CodeTimeout, c.err)
		}
		ls.assertFlowing(t)
	})
	t.Run("no join within join_timeout", func(t *testing.T) {
		before := joinCounts(t, s)
		c := dialRaw(t, s)
		c.expectClosed()
		if _, ok := c.next(signal.TypeError, time.Second); !ok {
			t.Errorf("the socket was closed without the documented %q error (close: %v)", signal.CodeTimeout, c.err)
		}
		// Counted once the server's read returns, which may be after the
		// client saw the close.
		eventually(t, 5*time.Second, "the timeout to count as a bad_request join", func() bool {
			return joinCounts(t, s)[metrics.JoinBadRequest]-before[metrics.JoinBadRequest] == 1
		})
		ls.assertFlowing(t)
	})
	t.Run("peer vanishing mid-handshake leaks nothing", func(t *testing.T) {
		room := own(t)
		// Settle, then count: everything the vanished peers start must end.
		ls.assertFlowing(t)
		baseline := runtime.NumGoroutine()

		// Gone before the answer: the offer is still being applied.
		c := dialRaw(t, s)
		c.joinAs(devToken(t, room, "a"))
		c.send(signal.Message{Type: signal.TypeOffer, Target: signal.TargetPublisher, SDP: videoOffer})
		_ = c.conn.CloseNow()
		<-c.closed

		// Gone after the answer: ICE is gathering and never connects.
		c = dialRaw(t, s)
		c.joinAs(devToken(t, room, "b"))
		c.send(signal.Message{Type: signal.TypeOffer, Target: signal.TargetPublisher, SDP: videoOffer})
		if _, ok := c.next(signal.TypeAnswer, 10*time.Second); !ok {
			t.Fatal("no answer")
		}
		_ = c.conn.CloseNow()
		<-c.closed

		eventually(t, 10*time.Second, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline })
		// The room is usable and holds nobody from before.
		again := dialRaw(t, s)
		j := again.joinAs(devToken(t, room, "c"))
		if len(j.Participants) != 0 {
			t.Fatalf("vanished peers still in the room: %+v", j.Participants)
		}
		again.send(signal.Message{Type: signal.TypeOffer, Target: signal.TargetPublisher, SDP: videoOffer})
		if _, ok := again.next(signal.TypeAnswer, 10*time.Second); !ok {
			t.Fatal("the room's next publisher got no answer")
		}
		ls.assertFlowing(t)
	})

	// Every refused join above was counted, and nothing else was.
	got := joinCounts(t, s)
	// bad_request: malformed JSON, unknown type, oversized and binary
	// before join, not_joined, and the join timeout.
	want := map[string]float64{
		metrics.JoinBadRequest:   6,
		metrics.JoinUnauthorized: 3,
		metrics.JoinTokenExpired: 1,
		metrics.JoinForbidden:    2,
		metrics.JoinRoomFull:     1,
		metrics.JoinDraining:     0,
		metrics.JoinError:        0,
	}
	for r, v := range want {
		if got[r] != v {
			t.Errorf("surge_joins_total{result=%q} = %v, want %v", r, got[r], v)
		}
	}
}

// TestTooLargeErrorReachesJoinedClient: message_too_large closes the
// socket, and the docs promise the error first. After join the session's
// teardown races the writer that carries it, so repeat to catch the race.
func TestTooLargeErrorReachesJoinedClient(t *testing.T) {
	s := startServer(t, nil)
	pad := strings.Repeat("x", s.cfg.Signal.MaxMessageBytes)
	lost := 0
	const tries = 20
	for i := 0; i < tries; i++ {
		c := dialRaw(t, s)
		c.joinAs(devToken(t, "big", "a"))
		c.sendText(`{"type":"ping","pad":"` + pad + `"}`)
		c.expectClosed()
		if m, ok := c.next(signal.TypeError, time.Second); !ok || m.Code != signal.CodeTooLarge {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d joined clients were disconnected without the %s error", lost, tries, signal.CodeTooLarge)
	}
}
