package sfu

import (
	"encoding/binary"
	"sync"
	"time"
)

// guardVerdict is what a streamGuard says about one inbound datagram.
type guardVerdict uint8

const (
	guardPass guardVerdict = iota
	guardDropBytes
	guardDropRTCP
	guardDropUnknownSSRC
	numGuardVerdicts
)

// maxRTCPSenders bounds the distinct RTCP sender SSRCs kept per
// PeerConnection; pion/srtp keeps replay state per sender SSRC before it
// checks the packet's authentication tag.
const maxRTCPSenders = 256

// streamGuard is the first thing a peer's datagrams meet, before ICE, DTLS
// and SRTP: one per PeerConnection (per local ICE ufrag). It bounds what a
// peer, or anyone who can spoof the peer's address, can make the server
// keep: bytes and RTCP packets per second, and SRTP streams.
//
// pion/srtp creates a read stream (and Pion a probe for it) for every new
// SSRC before it authenticates the packet, and keeps it until the
// PeerConnection closes, so a flood of random SSRCs grows memory without
// bound. The guard lets an SSRC through when it is known — declared in the
// peer's SDP or confirmed by the SFU reading an authenticated track from it
// — and lets at most MaxUnknownSSRCs others through at a time. One that is
// not confirmed within UnknownSSRCTimeout failed authentication (or carries
// nothing the SFU reads): it is rejected and its packets are dropped here,
// so Pion's stream for it stays empty and idle. After 4×MaxUnknownSSRCs
// rejections the PeerConnection admits no new unknown SSRC at all: the
// number of streams an attacker can make Pion create is bounded per
// PeerConnection, not per second.
//
// admit runs on the ICE read goroutine, confirm and declare on signaling
// and track goroutines; one mutex, held for a few map operations.
type streamGuard struct {
	cfg PeerConfig

	mu          sync.Mutex
	bytes       tokenBucket
	rtcp        tokenBucket
	declared    map[uint32]struct{}
	confirmed   map[uint32]struct{}
	unknown     map[uint32]unknownSSRC
	pending     int
	rejected    int
	rtcpSenders map[uint32]struct{}
	lastKnown   uint32 // fast path: the SSRC of the last admitted media packet
	dropped     [numGuardVerdicts]uint64
	reportAt    int64
}

type unknownSSRC struct {
	first    int64 // unix nanos
	rejected bool
}

func newStreamGuard(cfg PeerConfig) *streamGuard {
	return &streamGuard{
		cfg:         cfg,
		bytes:       newTokenBucket(float64(cfg.MaxBytesPerSecond), float64(cfg.MaxBytesPerSecond)),
		rtcp:        newTokenBucket(float64(cfg.MaxRTCPPerSecond), float64(cfg.MaxRTCPPerSecond)),
		declared:    map[uint32]struct{}{},
		confirmed:   map[uint32]struct{}{0: {}}, // Chrome's bandwidth probes; Pion reads them itself
		unknown:     map[uint32]unknownSSRC{},
		rtcpSenders: map[uint32]struct{}{},
	}
}

// admit classifies one datagram (RFC 7983) and decides whether it goes on.
// STUN always passes: it is what keeps the connection alive, and ICE
// bounds it itself.
func (g *streamGuard) admit(b []byte, now int64) guardVerdict {
	if len(b) == 0 || b[0] < 4 {
		return guardPass
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	v := g.decide(b, now)
	g.dropped[v]++
	return v
}

func (g *streamGuard) decide(b []byte, now int64) guardVerdict {
	if !g.bytes.take(float64(len(b)), now) {
		return guardDropBytes
	}
	if b[0] < 128 || b[0] > 191 || len(b) < 12 {
		return guardPass // DTLS, or too short for Pion to use
	}
	if b[1] >= 192 && b[1] <= 223 { // RTCP (RFC 5761 §4)
		if !g.rtcp.take(1, now) {
			return guardDropRTCP
		}
		sender := binary.BigEndian.Uint32(b[4:8])
		if _, ok := g.rtcpSenders[sender]; !ok {
			if len(g.rtcpSenders) >= maxRTCPSenders && !g.knownLocked(sender) {
				return guardDropUnknownSSRC
			}
			g.rtcpSenders[sender] = struct{}{}
		}
		return guardPass
	}
	ssrc := binary.BigEndian.Uint32(b[8:12])
	if ssrc == g.lastKnown && ssrc != 0 {
		return guardPass
	}
	if g.knownLocked(ssrc) {
		g.lastKnown = ssrc
		return guardPass
	}
	return g.unknownLocked(ssrc, now)
}

func (g *streamGuard) knownLocked(ssrc uint32) bool {
	if _, ok := g.confirmed[ssrc]; ok {
		return true
	}
	_, ok := g.declared[ssrc]
	return ok
}

func (g *streamGuard) unknownLocked(ssrc uint32, now int64) guardVerdict {
	timeout := int64(g.cfg.UnknownSSRCTimeout)
	if u, ok := g.unknown[ssrc]; ok {
		if !u.rejected && now-u.first <= timeout {
			return guardPass
		}
		if !u.rejected {
			g.reject(ssrc, u)
		}
		return guardDropUnknownSSRC
	}
	if g.pending >= g.cfg.MaxUnknownSSRCs {
		// Free the slots of SSRCs that had their chance.
		for s, u := range g.unknown {
			if !u.rejected && now-u.first > timeout {
				g.reject(s, u)
			}
		}
	}
	if g.pending >= g.cfg.MaxUnknownSSRCs || g.rejected >= 4*g.cfg.MaxUnknownSSRCs {
		return guardDropUnknownSSRC
	}
	g.unknown[ssrc] = unknownSSRC{first: now}
	g.pending++
	return guardPass
}

func (g *streamGuard) reject(ssrc uint32, u unknownSSRC) {
	u.rejected = true
	g.unknown[ssrc] = u
	g.pending--
	g.rejected++
}

// confirm marks ssrc as carrying an authenticated stream the SFU reads.
func (g *streamGuard) confirm(ssrc uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if u, ok := g.unknown[ssrc]; ok {
		delete(g.unknown, ssrc)
		if u.rejected {
			g.rejected--
		} else {
			g.pending--
		}
	}
	g.confirmed[ssrc] = struct{}{}
}

// declare replaces the SSRCs the peer's latest description declares.
func (g *streamGuard) declare(ssrcs []uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.declared)
	for _, s := range ssrcs {
		g.declared[s] = struct{}{}
	}
	g.lastKnown = 0
}

// guardReport is what a guard dropped since its last report.
type guardReport struct {
	bytes, rtcp, unknownSSRC uint64
}

func (r guardReport) total() uint64 { return r.bytes + r.rtcp + r.unknownSSRC }

// report returns the drops since the last report if every has passed since
// then and there are any: the caller logs one line per interval per peer.
func (g *streamGuard) report(now int64, every time.Duration) (guardReport, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := guardReport{bytes: g.dropped[guardDropBytes], rtcp: g.dropped[guardDropRTCP], unknownSSRC: g.dropped[guardDropUnknownSSRC]}
	if r.total() == 0 || (g.reportAt != 0 && now-g.reportAt < int64(every)) {
		return guardReport{}, false
	}
	g.reportAt = now
	g.dropped = [numGuardVerdicts]uint64{}
	return r, true
}
