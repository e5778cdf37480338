package attack

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/sfu/signal"
)

// NACKStorm is a subscriber that asks again and again for the packets it
// received last: every NACK names the 68 most recent sequence numbers (four
// pairs of 17), rate NACKs a second, for d. p must receive a video track.
// It returns the RTCP bytes it sent and the bytes it received meanwhile.
func (p *Peer) NACKStorm(ctx context.Context, d time.Duration, rate int) (rtcpBytes, received int64, err error) {
	if err := WaitFor(15*time.Second, func() bool { return p.Packets.Load() > 20 }); err != nil {
		return 0, 0, fmt.Errorf("nack storm: no video received: %w", err)
	}
	p.mu.Lock()
	ssrc := uint32(p.track.SSRC())
	pc := p.subPC
	p.mu.Unlock()
	nack := func() []rtcp.Packet {
		p.mu.Lock()
		first := p.recent[p.recentAt] - 67
		p.mu.Unlock()
		pairs := make([]rtcp.NackPair, 4)
		for i := range pairs {
			pairs[i] = rtcp.NackPair{PacketID: first + uint16(17*i), LostPackets: 0xffff}
		}
		return []rtcp.Packet{&rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: ssrc, Nacks: pairs}}
	}
	raw, _ := rtcp.Marshal(nack())
	b0 := p.Bytes.Load()
	every := time.Second / time.Duration(rate)
	start := time.Now()
	for sent := 0; time.Since(start) < d && ctx.Err() == nil; sent++ {
		if pc.WriteRTCP(nack()) == nil {
			rtcpBytes += int64(len(raw))
		}
		if wait := time.Duration(sent+1)*every - time.Since(start); wait > 0 {
			time.Sleep(wait)
		}
	}
	return rtcpBytes, p.Bytes.Load() - b0, nil
}

// SpoofFlood sends n SRTP-shaped packets with random SSRCs, which fail
// authentication, from p's own media socket to the server's end of p's
// publish connection: what anyone who can forge p's address can send.
func (p *Peer) SpoofFlood(ctx context.Context, n int, seed uint64) error {
	if p.udp == nil {
		return fmt.Errorf("spoof: the peer was joined without its own socket")
	}
	p.mu.Lock()
	pc := p.pubPC
	p.mu.Unlock()
	if pc == nil {
		return fmt.Errorf("spoof: the peer does not publish")
	}
	var pair *webrtc.ICECandidatePair
	if err := WaitFor(15*time.Second, func() bool {
		pair, _ = pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		return pair != nil
	}); err != nil {
		return fmt.Errorf("spoof: publish connection never connected: %w", err)
	}
	dst := &net.UDPAddr{IP: net.ParseIP(pair.Remote.Address), Port: int(pair.Remote.Port)}
	if !dst.IP.IsLoopback() {
		return ErrNotLoopback
	}
	rng := rand.New(rand.NewPCG(seed, 15))
	b := make([]byte, 12+100+10)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		b[0], b[1] = 0x80, 96
		_, _ = p.udp.WriteTo(b, dst)
		if i%500 == 0 {
			time.Sleep(5 * time.Millisecond) // what the server's socket buffer takes
		}
	}
	return nil
}

// CrashingSimulcast are the lines that made Pion's rid parser panic: an
// empty stream between two separators.
const CrashingSimulcast = "a=rid:q send\r\na=rid:h send\r\na=simulcast:send q;;h\r\n"

// CraftedOffers publishes n offers carrying CrashingSimulcast and checks
// each gets invalid_sdp while the session stays up.
func (p *Peer) CraftedOffers(n int) error {
	pc, err := p.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer func() { _ = pc.Close() }()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		return err
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	i := strings.Index(offer.SDP, "a=mid:")
	if i < 0 {
		return fmt.Errorf("crafted offer: no mid")
	}
	crafted := offer.SDP[:i] + CrashingSimulcast + offer.SDP[i:]
	before := len(p.Events(signal.TypeError))
	for k := 0; k < n; k++ {
		p.Send(signal.Message{Type: signal.TypeOffer, Target: signal.TargetPublisher, SDP: crafted})
	}
	if err := WaitFor(10*time.Second, func() bool { return len(p.Events(signal.TypeError))-before >= n }); err != nil {
		select {
		case <-p.closed:
			return fmt.Errorf("crafted offers: the server closed the socket")
		default:
		}
		return fmt.Errorf("crafted offers: %d errors for %d offers", len(p.Events(signal.TypeError))-before, n)
	}
	for _, m := range p.Events(signal.TypeError)[before:] {
		if m.Code != signal.CodeInvalidSDP {
			return fmt.Errorf("crafted offer answered %s: %s", m.Code, m.Reason)
		}
	}
	return nil
}

// SignalFlood sends n pings as fast as the socket takes them.
func (p *Peer) SignalFlood(n int) {
	for i := 0; i < n; i++ {
		p.SendRaw([]byte(`{"type":"ping"}`))
	}
}

// SlowReader joins and then never reads its socket, so that the server's
// messages for it pile up. Close it to let go.
type SlowReader struct{ conn *websocket.Conn }

// JoinSlow connects identity to room, sends join and reads nothing.
func JoinSlow(ctx context.Context, t Target, room, identity string) (*SlowReader, error) {
	if !loopbackURL(t.URL) {
		return nil, ErrNotLoopback
	}
	tok, err := t.token(room, identity)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, t.URL, nil)
	if err != nil {
		return nil, err
	}
	if err := conn.Write(dctx, websocket.MessageText, []byte(`{"type":"join","token":"`+tok+`"}`)); err != nil {
		_ = conn.CloseNow()
		return nil, err
	}
	return &SlowReader{conn: conn}, nil
}

// Close drops the socket.
func (s *SlowReader) Close() { _ = s.conn.CloseNow() }
