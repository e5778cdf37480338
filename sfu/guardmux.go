package sfu

import (
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/metrics"
)

// guardReportEvery is how often a guard that drops packets logs a line.
const guardReportEvery = 10 * time.Second

// guardMux wraps the ICE UDP mux so that every PeerConnection's datagrams
// pass its streamGuard before ICE sees them. Pion's mux hands each ICE agent
// (one per PeerConnection, named by its local ufrag) its own PacketConn; the
// wrapper hands out that conn behind a guard. This is the one place a
// datagram can be dropped before pion/srtp allocates for it, and it needs
// nothing of Pion beyond its public ice.UDPMux interface.
type guardMux struct {
	ice.UDPMux
	cfg PeerConfig
	m   *metrics.SFU
	log *slog.Logger

	mu     sync.Mutex
	guards map[string]*guardEntry // by local ufrag
}

type guardEntry struct {
	g     *streamGuard
	label string // the participant, once known; else the ufrag
}

func newGuardMux(inner ice.UDPMux, cfg PeerConfig, m *metrics.SFU, log *slog.Logger) *guardMux {
	return &guardMux{UDPMux: inner, cfg: cfg, m: m, log: log, guards: map[string]*guardEntry{}}
}

func (x *guardMux) entry(ufrag string) *guardEntry {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.guards[ufrag]
	if e == nil {
		e = &guardEntry{g: newStreamGuard(x.cfg), label: "ufrag " + ufrag}
		x.guards[ufrag] = e
	}
	return e
}

// GetConn is ice.UDPMux's: the agent's conn, behind the agent's guard.
func (x *guardMux) GetConn(ufrag string, addr net.Addr) (net.PacketConn, error) {
	conn, err := x.UDPMux.GetConn(ufrag, addr)
	if err != nil {
		return nil, err
	}
	return &guardedConn{PacketConn: conn, e: x.entry(ufrag), x: x}, nil
}

// RemoveConnByUfrag is called when the agent closes; its guard goes too.
func (x *guardMux) RemoveConnByUfrag(ufrag string) {
	x.mu.Lock()
	delete(x.guards, ufrag)
	x.mu.Unlock()
	x.UDPMux.RemoveConnByUfrag(ufrag)
}

// attach finds pc's guard (pc's local description must be set), names it
// after the participant and tells it the SSRCs pc's remote description
// declares. It returns nil if pc has no guard (no ICE UDP mux, no ufrag).
func (x *guardMux) attach(pc *webrtc.PeerConnection, who string) *streamGuard {
	if x == nil {
		return nil
	}
	ufrag := localUfrag(pc)
	if ufrag == "" {
		return nil
	}
	e := x.entry(ufrag)
	x.mu.Lock()
	e.label = who
	x.mu.Unlock()
	e.g.declare(declaredSSRCs(pc.RemoteDescription()))
	return e.g
}

// guardedConn is one agent's PacketConn with its guard in front.
type guardedConn struct {
	net.PacketConn
	e *guardEntry
	x *guardMux
}

var guardLimits = [numGuardVerdicts]metrics.PeerLimit{
	guardDropBytes:       metrics.LimitBytes,
	guardDropRTCP:        metrics.LimitRTCP,
	guardDropUnknownSSRC: metrics.LimitUnknownSSRC,
}

func (c *guardedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || n == 0 {
			return n, addr, err
		}
		now := time.Now().UnixNano()
		v := c.e.g.admit(p[:n], now)
		if v == guardPass {
			return n, addr, nil
		}
		c.x.m.PeerLimited(guardLimits[v]).Inc()
		if r, ok := c.e.g.report(now, guardReportEvery); ok {
			c.x.mu.Lock()
			who := c.e.label
			c.x.mu.Unlock()
			c.x.log.Warn("dropping a peer's packets over its budget", "peer", who, "remote", addr.String(),
				"unknown_ssrc", r.unknownSSRC, "rtcp_over_rate", r.rtcp, "bytes_over_rate", r.bytes, "interval", guardReportEvery.String())
		}
	}
}

// localUfrag is pc's ICE username fragment, from its local description.
func localUfrag(pc *webrtc.PeerConnection) string {
	d := pc.LocalDescription()
	if d == nil {
		return ""
	}
	for _, line := range strings.Split(d.SDP, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

// declaredSSRCs lists the SSRCs of a=ssrc lines in d.
func declaredSSRCs(d *webrtc.SessionDescription) []uint32 {
	if d == nil {
		return nil
	}
	// Parse a copy: d is Pion's own, and Unmarshal would write to it.
	var parsed sdp.SessionDescription
	if err := parsed.Unmarshal([]byte(d.SDP)); err != nil {
		return nil
	}
	var out []uint32
	for _, m := range parsed.MediaDescriptions {
		for _, a := range m.Attributes {
			if a.Key != "ssrc" {
				continue
			}
			id, _, _ := strings.Cut(a.Value, " ")
			if v, err := strconv.ParseUint(id, 10, 32); err == nil {
				out = append(out, uint32(v))
			}
		}
	}
	return out
}
