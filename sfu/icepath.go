package sfu

import (
	"net/netip"
	"sync"

	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/metrics"
)

// icePath keeps one PeerConnection counted in surge_ice_selected_pairs
// under the path its selected pair takes while it is connected: the
// client's candidate type (host, srflx, prflx, relay) and the protocol
// between it and the SFU (udp, or tcp for ICE-TCP).
type icePath struct {
	srv *Server
	pc  *webrtc.PeerConnection

	mu      sync.Mutex
	counted bool
	typ     metrics.ICECandidateType
	proto   metrics.ICEProtocol
}

func (s *Server) newICEPath(pc *webrtc.PeerConnection) *icePath {
	return &icePath{srv: s, pc: pc}
}

// update follows the PeerConnection's state: counted once connected,
// uncounted once failed or closed.
func (p *icePath) update(st webrtc.PeerConnectionState) {
	switch st {
	case webrtc.PeerConnectionStateConnected:
		typ, proto, ok := p.classify()
		if !ok {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.counted {
			p.srv.conn.paths.Pairs(p.typ, p.proto).Dec()
		}
		p.counted, p.typ, p.proto = true, typ, proto
		p.srv.conn.paths.Pairs(typ, proto).Inc()
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.counted {
			p.srv.conn.paths.Pairs(p.typ, p.proto).Dec()
			p.counted = false
		}
	}
}

// classify reads the selected pair. A relayed client's candidate is often
// known to the SFU only as peer-reflexive (its checks arrive before, or
// instead of, its trickled relay candidate), so a prflx address that is one
// of the embedded TURN server's relays, or that the client also signaled
// as a relay candidate, counts as relay.
func (p *icePath) classify() (metrics.ICECandidateType, metrics.ICEProtocol, bool) {
	pair, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Remote == nil {
		return 0, 0, false
	}
	r := pair.Remote
	proto := metrics.ProtocolUDP
	if r.Protocol == webrtc.ICEProtocolTCP {
		proto = metrics.ProtocolTCP
	}
	typ := candidateType(r.Typ)
	if typ == metrics.CandidatePrflx && p.isRelay(r.Address, r.Port) {
		typ = metrics.CandidateRelay
	}
	return typ, proto, true
}

func (p *icePath) isRelay(address string, port uint16) bool {
	ip, err := netip.ParseAddr(address)
	if err != nil {
		return false
	}
	if t := p.srv.conn.turn; t != nil && t.IsRelayAddr(netip.AddrPortFrom(ip, port)) {
		return true
	}
	for _, st := range p.pc.GetStats() {
		c, ok := st.(webrtc.ICECandidateStats)
		if ok && c.Type == webrtc.StatsTypeRemoteCandidate && c.CandidateType == webrtc.ICECandidateTypeRelay &&
			c.IP == address && c.Port == int32(port) {
			return true
		}
	}
	return false
}

func candidateType(t webrtc.ICECandidateType) metrics.ICECandidateType {
	switch t {
	case webrtc.ICECandidateTypeSrflx:
		return metrics.CandidateSrflx
	case webrtc.ICECandidateTypePrflx:
		return metrics.CandidatePrflx
	case webrtc.ICECandidateTypeRelay:
		return metrics.CandidateRelay
	}
	return metrics.CandidateHost
}
