package loadbot

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v2"
	"github.com/pion/transport/v2"
)

// The receive fast path. Pion hands a received RTP packet through four
// goroutines (ICE candidate read loop → DTLS/SRTP mux → SRTP session →
// the track's reader), each a buffer copy and a wake-up, and its
// interceptors parse the header again and allocate per packet. A loadbot
// process receives tens of thousands of packets a second, so that is most
// of its CPU. mediaConn cuts the path to one goroutine: the ICE read loop,
// blocked in ReadFrom on the bot's socket, decrypts SRTP right there (keys
// from srtpKeys) and hands the packet to the subscriber, which records it
// and answers with the RTCP a browser sends (subscriber.go). Pion keeps
// doing everything else — ICE, DTLS, SRTCP, renegotiation — and sees every
// datagram but the SRTP ones. Until the keys are known, and on sockets
// where they never are (a TURN relay's), packets take Pion's path and
// reach the same subscriber through OnTrack.

// mediaSink receives what a mediaConn decrypted. Calls come from the
// socket's read goroutine.
type mediaSink interface {
	// onRTP gets a plaintext RTP packet whose header h has already been
	// parsed (its extension payloads point into the packet buffer).
	onRTP(h *rtp.Header, pkt []byte, now time.Time)
	// onRTCP gets a decrypted compound RTCP packet.
	onRTCP(pkt []byte, now time.Time)
	// onKeyed gets, once the socket can decrypt, a way to send SRTCP to
	// the peer on the same socket, and the context that encrypts it.
	onKeyed(out rtcpSender, local *srtp.Context)
}

// rtcpSender sends an encrypted (SRTCP) packet to the peer.
type rtcpSender interface {
	sendRTCP(pkt []byte) error
}

// mediaNet is a transport.Net whose UDP sockets are mediaConns feeding one
// subscriber. It wraps the host's network or a shaped link.
type mediaNet struct {
	transport.Net
	keys *srtpKeys
	sink mediaSink
}

func (n *mediaNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return newMediaConn(c, n.keys, n.sink), nil
}

func (n *mediaNet) ListenPacket(network, address string) (net.PacketConn, error) {
	return listenPacket(n, network, address)
}

// udpNet is the part of transport.Net that listenPacket needs.
type udpNet interface {
	ResolveUDPAddr(network, address string) (*net.UDPAddr, error)
	ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error)
}

// listenPacket is ListenPacket for a transport.Net whose ListenUDP wraps
// the sockets: Pion's TURN client listens through it.
func listenPacket(n udpNet, network, address string) (net.PacketConn, error) {
	addr, err := n.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, err
	}
	return n.ListenUDP(network, addr)
}

// srtpReceiver is the receive side of one socket: it watches the DTLS
// hellos go by and, once the keys are known, decrypts media for the sink.
// receive runs on the socket's one reader; sent on its writers.
type srtpReceiver struct {
	keys *srtpKeys
	sink mediaSink

	keyed atomic.Bool // the reader has its context; writers stop sniffing

	// Owned by the reader.
	ctx    *srtp.Context
	local  *srtp.Context // handed to the sink once, with the first media
	keyErr error         // a permanent failure to derive keys: stay on Pion's path
}

// scratch is a reader's per-packet working memory.
type scratch struct {
	hdr   rtp.Header
	plain []byte
	rtcp  []byte
}

func newScratch() *scratch {
	return &scratch{plain: make([]byte, 0, receiveMTU), rtcp: make([]byte, 0, receiveMTU)}
}

// receiveMTU bounds one datagram, as Pion's ICE does.
const receiveMTU = 8192

// Packet classes by first byte (RFC 7983).
func isDTLS(b []byte) bool { return len(b) > 0 && b[0] >= 20 && b[0] <= 63 }
func isRTPOrRTCP(b []byte) bool {
	return len(b) >= 12 && b[0] >= 128 && b[0] <= 191
}

// isRTCP tells RTCP from RTP on a muxed port (RFC 5761 §4): RTCP packet
// types 192–223 fall where RTP would have marker set and PT 64–95.
func isRTCP(b []byte) bool { return b[1] >= 192 && b[1] <= 223 }

// receive handles a datagram that arrived at now and reports whether it
// was consumed; if not, Pion must see it.
func (r *srtpReceiver) receive(b []byte, now time.Time, s *scratch) bool {
	switch {
	case isDTLS(b):
		if r.ctx == nil {
			r.keys.sniff(b, false)
		}
	case isRTPOrRTCP(b):
		if !r.ready() {
			return false
		}
		if isRTCP(b) {
			// A copy for the sender reports; Pion gets the packet too,
			// and its ICE agent counts it as a sign of life.
			if out, err := r.ctx.DecryptRTCP(s.rtcp[:0], b, nil); err == nil {
				r.sink.onRTCP(out, now)
			}
			return false
		}
		out, err := r.ctx.DecryptRTP(s.plain[:0], b, &s.hdr)
		if err != nil {
			// Forged or corrupt: a browser drops it too.
			return true
		}
		r.sink.onRTP(&s.hdr, out, now)
		return true
	}
	return false
}

// ready reports whether the reader can decrypt, deriving the context on
// the first media packet after the handshake.
func (r *srtpReceiver) ready() bool {
	if r.ctx != nil {
		return true
	}
	if r.keyErr != nil {
		return false
	}
	ctx, local, err := r.keys.contexts()
	switch {
	case err == nil:
		r.ctx, r.local = ctx, local
		r.keyed.Store(true)
		return true
	case err != errKeysIncomplete:
		r.keyErr = err
	}
	return false
}

// armed returns the local context once, after the reader got its keys:
// the caller then hands the sink a sender for this socket.
func (r *srtpReceiver) armed() *srtp.Context {
	l := r.local
	r.local = nil
	return l
}

// sent watches a datagram a writer sends, for this side's hello.
func (r *srtpReceiver) sent(p []byte) {
	if isDTLS(p) && !r.keyed.Load() {
		r.keys.sniff(p, true)
	}
}

// mediaConn is the portable fast path: one socket of a subscriber's ICE
// agent, read by Pion's candidate read loop, which decrypts media in
// place. On Linux unshaped subscribers use the reactor instead
// (reactor_linux.go), which also batches reads across sockets.
type mediaConn struct {
	transport.UDPConn
	rx srtpReceiver
	s  *scratch
}

func newMediaConn(c transport.UDPConn, keys *srtpKeys, sink mediaSink) *mediaConn {
	return &mediaConn{UDPConn: c, rx: srtpReceiver{keys: keys, sink: sink}, s: newScratch()}
}

// ReadFrom returns the next datagram Pion should see; SRTP packets it can
// decrypt never leave.
func (c *mediaConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		consumed := c.rx.receive(p[:n], time.Now(), c.s)
		if local := c.rx.armed(); local != nil {
			c.rx.sink.onKeyed(&connSender{c: c.UDPConn, to: addr}, local)
		}
		if !consumed {
			return n, addr, nil
		}
	}
}

// connSender sends SRTCP on a socket Pion's ICE also uses, to the address
// media came from.
type connSender struct {
	c  transport.UDPConn
	to net.Addr
}

func (s *connSender) sendRTCP(p []byte) error {
	_, err := s.c.WriteTo(p, s.to)
	return err
}

// WriteTo watches the hellos this side sends.
func (c *mediaConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.rx.sent(p)
	return c.UDPConn.WriteTo(p, addr)
}

func (c *mediaConn) WriteToUDP(p []byte, addr *net.UDPAddr) (int, error) {
	return c.WriteTo(p, addr)
}

func (c *mediaConn) ReadFromUDP(p []byte) (int, *net.UDPAddr, error) {
	n, a, err := c.ReadFrom(p)
	ua, _ := a.(*net.UDPAddr)
	return n, ua, err
}
