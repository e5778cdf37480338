// Package attack holds hostile peers: clients of Surge's signaling, written
// from docs/signaling.md alone, that run the attacks of issue 15 — crafted
// SDP, NACK storms, floods of spoofed SRTP, signaling floods, clients that
// stop reading. The soak test runs them beside healthy loadbot bots, and
// scripts/attack measures what each costs a given server revision.
//
// Every attack is bounded in packets and time and targets loopback only.
package attack

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/signal"
)

// ErrNotLoopback refuses a target off the loopback range.
var ErrNotLoopback = errors.New("attack: only loopback targets are allowed")

// Target is the server under attack.
type Target struct {
	URL    string // ws://127.0.0.1:port/rtc
	Key    string // API key and secret to mint tokens (the dev key by default)
	Secret string
}

func (t Target) token(room, identity string) (string, error) {
	key, secret := t.Key, t.Secret
	if key == "" {
		key, secret = auth.DevAPIKey, auth.DevAPISecret
	}
	return auth.Mint(key, secret, auth.Grant{Room: room, Identity: identity, CanPublish: true, CanSubscribe: true}, time.Hour, time.Now())
}

// Peer is one participant: its socket, publish and subscribe
// PeerConnections, and what its subscriber received on its video track.
type Peer struct {
	conn   *websocket.Conn
	api    *webrtc.API  // the subscribe connection's
	pubAPI *webrtc.API  // the publish connection's: over udp when the peer has its own socket
	udp    *net.UDPConn // the peer's own media socket, when it has one
	mux    ice.UDPMux   // over udp; closing it closes udp

	mu       sync.Mutex
	pubPC    *webrtc.PeerConnection
	subPC    *webrtc.PeerConnection
	track    *webrtc.TrackRemote
	recent   [128]uint16 // sequence numbers received last
	recentAt int
	events   []signal.Message

	Bytes, Packets, Lost atomic.Int64
	lastSeq              atomic.Int64

	closed chan struct{}
	wg     sync.WaitGroup
}

func newAPI(se webrtc.SettingEngine) *webrtc.API {
	me := &webrtc.MediaEngine{}
	_ = me.RegisterDefaultCodecs()
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	// The attacker's subscriber sees the same packet several times.
	se.DisableSRTPReplayProtection(true)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(&interceptor.Registry{}), webrtc.WithSettingEngine(se))
}

// Join connects identity to room and waits for joined. With ownSocket the
// peer's publish connection runs over a UDP socket it holds, so it can also
// send raw datagrams from that connection's address and port. (Its
// subscribe connection keeps a socket of its own: the server tells its
// peers apart by address.)
func Join(ctx context.Context, t Target, room, identity string, ownSocket bool) (*Peer, error) {
	if !loopbackURL(t.URL) {
		return nil, ErrNotLoopback
	}
	tok, err := t.token(room, identity)
	if err != nil {
		return nil, err
	}
	p := &Peer{closed: make(chan struct{})}
	p.api = newAPI(webrtc.SettingEngine{})
	p.pubAPI = p.api
	if ownSocket {
		if p.udp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			return nil, err
		}
		se := webrtc.SettingEngine{}
		p.mux = webrtc.NewICEUDPMux(nil, p.udp)
		se.SetICEUDPMux(p.mux)
		p.pubAPI = newAPI(se)
	}
	p.lastSeq.Store(-1)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if p.conn, _, err = websocket.Dial(dctx, t.URL, nil); err != nil {
		p.closeSocket()
		return nil, err
	}
	p.conn.SetReadLimit(1 << 20)
	joined := make(chan struct{})
	p.wg.Add(1)
	go p.readLoop(joined)
	p.Send(signal.Message{Type: signal.TypeJoin, Token: tok})
	select {
	case <-joined:
		return p, nil
	case <-p.closed:
	case <-dctx.Done():
	}
	p.Close()
	return nil, fmt.Errorf("%s: no joined", identity)
}

func loopbackURL(u string) bool {
	for _, pre := range []string{"ws://127.", "ws://[::1]", "ws://localhost"} {
		if len(u) >= len(pre) && u[:len(pre)] == pre {
			return true
		}
	}
	return false
}

// Send writes one message.
func (p *Peer) Send(m signal.Message) {
	data, _ := json.Marshal(m)
	p.SendRaw(data)
}

// SendRaw writes one text frame as is.
func (p *Peer) SendRaw(data []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.conn.Write(ctx, websocket.MessageText, data)
}

// Close leaves abruptly (no leave message: as a killed client would).
func (p *Peer) Close() {
	_ = p.conn.CloseNow()
	p.mu.Lock()
	pcs := []*webrtc.PeerConnection{p.pubPC, p.subPC}
	p.mu.Unlock()
	for _, pc := range pcs {
		if pc != nil {
			_ = pc.Close()
		}
	}
	p.wg.Wait()
	p.closeSocket()
}

func (p *Peer) closeSocket() {
	// Through the mux, which then stops reading without complaining.
	if p.mux != nil {
		_ = p.mux.Close()
	} else if p.udp != nil {
		_ = p.udp.Close()
	}
}

// Events returns the messages received of type typ.
func (p *Peer) Events(typ string) []signal.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []signal.Message
	for _, m := range p.events {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// Done is closed when the server closed the socket.
func (p *Peer) Done() <-chan struct{} { return p.closed }

func (p *Peer) readLoop(joined chan struct{}) {
	defer p.wg.Done()
	defer close(p.closed)
	for {
		_, data, err := p.conn.Read(context.Background())
		if err != nil {
			return
		}
		var m signal.Message
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		if m.Type != signal.TypePing && m.Type != signal.TypeCandidate {
			p.mu.Lock()
			if len(p.events) < 10_000 {
				p.events = append(p.events, m)
			}
			p.mu.Unlock()
		}
		switch {
		case m.Type == signal.TypeJoined:
			close(joined)
		case m.Type == signal.TypePing:
			p.Send(signal.Message{Type: signal.TypePong})
		case m.Type == signal.TypeOffer && m.Target == signal.TargetSubscriber:
			p.answer(m.SDP)
		case m.Type == signal.TypeAnswer && m.Target == signal.TargetPublisher:
			p.mu.Lock()
			pc := p.pubPC
			p.mu.Unlock()
			if pc != nil {
				_ = pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
			}
		case m.Type == signal.TypeCandidate && m.Candidate != nil:
			p.mu.Lock()
			pc := p.pubPC
			if m.Target == signal.TargetSubscriber {
				pc = p.subPC
			}
			p.mu.Unlock()
			if pc != nil {
				_ = pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid, SDPMLineIndex: m.Candidate.SDPMLineIndex})
			}
		}
	}
}

func (p *Peer) trickle(target string) func(*webrtc.ICECandidate) {
	return func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		j := c.ToJSON()
		p.Send(signal.Message{Type: signal.TypeCandidate, Target: target, Candidate: &signal.Candidate{Candidate: j.Candidate, SDPMid: j.SDPMid, SDPMLineIndex: j.SDPMLineIndex}})
	}
}

// Publish offers one VP8 track and returns it; write media with Pump.
func (p *Peer) Publish() (*webrtc.TrackLocalStaticRTP, error) {
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "s")
	if err != nil {
		return nil, err
	}
	pc, err := p.pubAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	pc.OnICECandidate(p.trickle(signal.TargetPublisher))
	if _, err := pc.AddTrack(track); err != nil {
		return nil, err
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.pubPC = pc
	p.mu.Unlock()
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	p.Send(signal.Message{Type: signal.TypeOffer, Target: signal.TargetPublisher, SDP: pc.LocalDescription().SDP})
	return track, nil
}

// Pump sends a 1 Mbit/s VP8-shaped stream on track until stop: 100 packets
// of 1250 bytes a second, one-packet frames, a keyframe every tenth.
func Pump(track *webrtc.TrackLocalStaticRTP, stop <-chan struct{}) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	p := make([]byte, 1250)
	for i := uint32(0); ; i++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		p[0], p[1], p[2], p[3] = 0x90, 0x80, 0x80|byte(i>>8)&0x7f, byte(i)
		if i%10 == 0 {
			copy(p[4:], []byte{0x10, 0, 0, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00})
		} else {
			p[4] = 0x11
		}
		_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: i * 900, Marker: true}, Payload: p})
	}
}

func (p *Peer) answer(offer string) {
	p.mu.Lock()
	if p.subPC == nil {
		pc, err := p.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			p.mu.Unlock()
			return
		}
		pc.OnICECandidate(p.trickle(signal.TargetSubscriber))
		pc.OnTrack(p.onTrack)
		p.subPC = pc
	}
	pc := p.subPC
	p.mu.Unlock()
	if pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}) != nil {
		return
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil || pc.SetLocalDescription(ans) != nil {
		return
	}
	p.Send(signal.Message{Type: signal.TypeAnswer, Target: signal.TargetSubscriber, SDP: pc.LocalDescription().SDP})
}

// onTrack reads the first video track received, counting bytes, packets
// and forward gaps in its sequence numbers (loss before retransmission).
func (p *Peer) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	p.mu.Lock()
	if tr.Kind() != webrtc.RTPCodecTypeVideo || p.track != nil {
		p.mu.Unlock()
		return
	}
	p.track = tr
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			seq := binary.BigEndian.Uint16(buf[2:4])
			p.Bytes.Add(int64(n))
			p.Packets.Add(1)
			if last := p.lastSeq.Load(); last < 0 {
				p.lastSeq.Store(int64(seq))
			} else if d := seq - uint16(last); d > 0 && d < 1000 {
				p.Lost.Add(int64(d) - 1)
				p.lastSeq.Store(int64(seq))
			}
			p.mu.Lock()
			p.recentAt = (p.recentAt + 1) % len(p.recent)
			p.recent[p.recentAt] = seq
			p.mu.Unlock()
		}
	}()
}

// WaitFor polls cond every 50 ms for up to d.
func WaitFor(d time.Duration, cond func() bool) error {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return nil
		}
	}
	return fmt.Errorf("timed out after %s", d)
}
