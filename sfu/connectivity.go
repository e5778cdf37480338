package sfu

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu/pionlog"
	"github.com/surgertc/surge/sfu/signal"
	"github.com/surgertc/surge/sfu/turn"
)

// ICE-TCP tuning. A connection that sends no STUN binding within the first
// timeout is dropped (a port scanner or a hostile peer must not hold
// sockets); the write buffer makes a slow TCP subscriber drop packets
// rather than block the writer that serves the whole room.
const (
	// Pion's controlling agent (the SFU, on subscriber connections) waits
	// 2 s before it nominates a relayed pair, in case a better pair turns
	// up; a relayed client paid that on every join, and half a second
	// still lets a direct path that answers within it win. Peer-reflexive
	// pairs are nominated at once (rtc.go): a client's checks beating its
	// candidates is the common case, not a worse path, and the best pair
	// that has succeeded is still the one nominated.
	relayAcceptanceWait = 500 * time.Millisecond

	iceTCPFirstBindTimeout = 5 * time.Second
	iceTCPWriteBuffer      = 512 << 10
	iceTCPReadPackets      = 128
)

// connectivity is how clients reach the SFU besides the UDP mux: a passive
// ICE-TCP listener and the embedded TURN server. It also mints each join's
// ICE servers (static ones, the embedded TURN's, external TURN servers').
type connectivity struct {
	tcpLn  net.Listener
	tcpMux ice.TCPMux
	turn   *turn.Server
	paths  *metrics.ICEPaths
}

// startConnectivity binds ICE-TCP and starts the embedded TURN server, as
// configured, and returns what the WebRTC engine needs to advertise ICE-TCP.
// The media UDP socket is bound already: TURN may relay to it.
func (s *Server) startConnectivity() ([]func(*webrtc.SettingEngine), error) {
	s.conn.paths = metrics.NewICEPaths(s.reg)
	tm := metrics.NewTURN(s.reg)
	opts := []func(*webrtc.SettingEngine){func(se *webrtc.SettingEngine) {
		se.SetRelayAcceptanceMinWait(relayAcceptanceWait)
	}}
	if addr := s.cfg.RTC.TCPAddr; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("ICE-TCP %s: %w", addr, err)
		}
		s.conn.tcpLn = ln
		s.conn.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{
			Listener: ln, Logger: pionlog.Logger(s.log, "ice-tcp"), ReadBufferSize: iceTCPReadPackets,
			WriteBufferSize: iceTCPWriteBuffer, FirstStunBindTimeout: iceTCPFirstBindTimeout,
			AliveDurationForConnFromStun: iceTCPFirstBindTimeout,
		})
		bound := ln.Addr().(*net.TCPAddr).IP
		opts = append(opts, func(se *webrtc.SettingEngine) {
			se.SetICETCPMux(s.conn.tcpMux)
			se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6})
			// The SFU only listens: dialling TCP to addresses a client
			// names would let any client make it connect anywhere.
			se.DisableActiveTCP(true)
			if !bound.IsUnspecified() {
				// Passive candidates are made per interface address; only
				// the bound one has the listener behind it.
				se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(bound) })
			}
		})
	}
	if s.cfg.TURN.Enabled {
		t, err := turn.Listen(s.cfg.TURN, turn.WithLogger(s.log.With("component", "turn")), turn.WithMetrics(tm),
			turn.WithPeerExceptions(s.mediaAddrs()...))
		if err != nil {
			s.closeConnectivity()
			return nil, fmt.Errorf("embedded TURN: %w", err)
		}
		s.conn.turn = t
	}
	return opts, nil
}

// mediaAddrs are the addresses clients (and so TURN relays) send media to:
// the UDP mux's, per interface when it listens on all of them, and the
// 1:1 NAT addresses on its port.
func (s *Server) mediaAddrs() []netip.AddrPort {
	ap, err := netip.ParseAddrPort(s.udp.LocalAddr().String())
	if err != nil {
		return nil
	}
	port := ap.Port()
	var out []netip.AddrPort
	if ap.Addr().IsUnspecified() {
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out = append(out, netip.AddrPortFrom(p.Addr(), port))
			}
		}
	} else {
		out = append(out, ap)
	}
	for _, ip := range s.cfg.RTC.NAT1To1IPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			out = append(out, netip.AddrPortFrom(a, port))
		}
	}
	return out
}

func (s *Server) closeConnectivity() error {
	var errs []error
	if s.conn.turn != nil {
		errs = append(errs, s.conn.turn.Close())
	}
	if s.conn.tcpMux != nil {
		errs = append(errs, s.conn.tcpMux.Close())
	} else if s.conn.tcpLn != nil {
		errs = append(errs, s.conn.tcpLn.Close())
	}
	return errors.Join(errs...)
}

// iceServers are the ICE servers for one join: the static ones, then TURN
// REST credentials for identity on the embedded and external servers.
func (s *Server) iceServers(identity string) []signal.ICEServer {
	out := append([]signal.ICEServer(nil), s.cfg.RTC.ICEServers...)
	if len(identity) > turnIdentityMax {
		identity = identity[:turnIdentityMax]
	}
	if s.conn.turn != nil {
		user, pass := s.conn.turn.Credentials(identity)
		out = append(out, signal.ICEServer{URLs: s.conn.turn.URLs(), Username: user, Credential: pass})
	}
	now := time.Now()
	for _, e := range s.cfg.TURN.External {
		user, pass := turn.Mint(e.Secret, identity, s.cfg.TURN.CredentialTTL, now)
		out = append(out, signal.ICEServer{URLs: append([]string(nil), e.URLs...), Username: user, Credential: pass})
	}
	return out
}

// turnIdentityMax keeps TURN usernames well under STUN's 513-byte limit.
const turnIdentityMax = 128

// TURNAddrs are the embedded TURN server's bound listeners (nil when a
// listener, or the server, is not running).
func (s *Server) TURNAddrs() (udp, tcp, tls net.Addr) {
	if s.conn.turn == nil {
		return nil, nil, nil
	}
	return s.conn.turn.UDPAddr(), s.conn.turn.TCPAddr(), s.conn.turn.TLSAddr()
}

// ICETCPAddr is the bound ICE-TCP listener, nil when not configured.
func (s *Server) ICETCPAddr() net.Addr {
	if s.conn.tcpLn == nil {
		return nil
	}
	return s.conn.tcpLn.Addr()
}
