package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/sfu/bwe"
	"github.com/surgertc/surge/sfu/srtpfast"
)

// downlink is one subscriber's send side, shared by its DownTracks: the
// transport-wide sequence numbers and send history, the bandwidth estimate
// fed by the subscriber's feedback, the probe controller, and the route of
// the fast send path.
//
// The fast path seals packets with the subscriber's SRTP keys and writes
// them straight to the media socket in batches. It runs when the selected
// ICE pair is a UDP pair on the SFU's own media socket; otherwise (ICE-TCP,
// before DTLS is up, or a Pion version whose keys are out of reach) packets
// go through Pion's writer, which costs more but works everywhere.
type downlink struct {
	hist   *bwe.History
	sock   *sendSocket // nil: no fast path on this server
	router *rtcpRouter // where the subscriber's RTCP is intercepted; nil without a fast path
	port   int         // the media socket's port

	route atomic.Pointer[route]
	// rtcpRead counts the subscriber's RTCP packets read off the socket
	// by the SFU (not through Pion).
	rtcpRead atomic.Uint64
	rtcpSent atomic.Uint64 // SRTCP packets sealed and sent by the SFU

	tracks   atomic.Pointer[map[uint32]*DownTrack] // by SSRC, for RTCP
	tracksMu sync.Mutex                            // serialises tracks' writers

	rtcpOutMu sync.Mutex // the three below: the SRTCP the SFU sends itself
	rtcpOut   [maxPacketSize]byte
	srtcpNext uint32 // the next SRTCP index

	mu      sync.Mutex // everything below
	fb      *bwe.Feedback
	est     *bwe.Estimator
	probes  *bwe.ProbeController
	results []bwe.PacketResult
	sawFB   bool
	stats   bwe.Stats
}

// route is where and with which keys the fast path sends. Immutable once
// published; a new pair or new keys publish a new route.
type route struct {
	to      *dest
	profile srtpfast.Profile
	key     []byte
	salt    []byte
	// rtcp opens the subscriber's SRTCP; only the media socket's reader
	// goroutine uses it (rtcpin.go).
	rtcp *srtpfast.RTCPContext
	// seal seals the SFU's own SRTCP; used under the downlink's rtcpOutMu.
	seal *srtpfast.RTCPContext
}

func newDownlink(cfg bwe.Config, pcfg bwe.ProbeConfig, sock *sendSocket, router *rtcpRouter, now time.Time) *downlink {
	h := bwe.NewHistory(now)
	d := &downlink{
		hist:   h,
		sock:   sock,
		router: router,
		fb:     bwe.NewFeedback(h),
		est:    bwe.NewEstimator(cfg, now),
		probes: bwe.NewProbeController(pcfg),
	}
	if sock != nil {
		if a, ok := sock.conn.LocalAddr().(*net.UDPAddr); ok {
			d.port = a.Port
		}
	}
	d.stats = d.est.Stats()
	// SRTCP indexes must not repeat under one key. Until the fast path is
	// up, sender reports go through Pion, whose index starts at 0; starting
	// far above it keeps ours new to the subscriber's replay window.
	d.srtcpNext = 1 << 20
	return d
}

// sendRTCP seals the compound RTCP packet plain with the subscriber's keys
// and writes it to the media socket: no allocation, unlike Pion's
// WriteRTCP. False when the fast path is not up; the caller then uses Pion.
func (d *downlink) sendRTCP(plain []byte) bool {
	r := d.route.Load()
	if r == nil {
		return false
	}
	d.rtcpOutMu.Lock()
	defer d.rtcpOutMu.Unlock()
	out, err := r.seal.Seal(d.rtcpOut[:], plain, d.srtcpNext)
	if err != nil {
		return false
	}
	d.srtcpNext++
	d.rtcpSent.Add(1)
	// A refused write is a lost report, as a lost datagram would be.
	_, _ = d.sock.conn.WriteToUDPAddrPort(out, r.to.addr)
	return true
}

// onFeedbackRaw takes one TWCC feedback packet from the subscriber, as
// it arrived (RTCP header included).
func (d *downlink) onFeedbackRaw(p []byte, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sawFB = true
	d.results = d.fb.ResultsRaw(p, now, d.results[:0])
	for _, r := range d.est.OnFeedback(now, d.results) {
		d.probes.OnResult(now, r)
	}
	d.stats = d.est.Stats()
}

// snapshot lets probe clusters time out and returns the estimate and
// whether any feedback has come yet.
func (d *downlink) snapshot(now time.Time) (bwe.Stats, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.est.Tick(now) {
		d.probes.OnResult(now, r)
	}
	d.stats = d.est.Stats()
	return d.stats, d.sawFB
}

func (d *downlink) setRTT(rtt time.Duration) {
	d.mu.Lock()
	d.est.SetRTT(rtt)
	d.mu.Unlock()
}

// decideProbe asks the probe controller whether to probe now.
func (d *downlink) decideProbe(now time.Time, in bwe.ProbeInputs) (bwe.Probe, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.probes.Decide(now, in)
}

// probeSent registers a cluster the moment its padding goes out.
func (d *downlink) probeSent(p bwe.Probe, now time.Time) {
	d.mu.Lock()
	d.est.StartProbe(p.ID, p.Target, p.Packets, now)
	d.mu.Unlock()
}

func (d *downlink) probeCanceled(p bwe.Probe) {
	d.mu.Lock()
	d.probes.Cancel(p.ID)
	d.mu.Unlock()
}

// updateRoute points the fast path at pc's selected pair (pair, or the one
// pc reports when nil), or turns it off when that pair cannot use it. Call
// it when the connection comes up and whenever the selected pair changes.
func (d *downlink) updateRoute(pc *webrtc.PeerConnection, pair *webrtc.ICECandidatePair) error {
	if d.sock == nil {
		return nil
	}
	r, err := d.newRoute(pc, pair)
	if old := d.route.Swap(r); old != nil && d.router != nil && (r == nil || old.to.addr != r.to.addr) {
		d.router.remove(old.to.addr, d)
	}
	if r != nil && d.router != nil {
		d.router.set(r.to.addr, d)
	}
	return err
}

func (d *downlink) newRoute(pc *webrtc.PeerConnection, pair *webrtc.ICECandidatePair) (*route, error) {
	sctp := pc.SCTP()
	if sctp == nil {
		return nil, nil
	}
	// The keys exist once DTLS is up; State takes the transport's lock,
	// which orders our read of its connection after Pion's write.
	if sctp.Transport().State() != webrtc.DTLSTransportStateConnected {
		return nil, nil
	}
	var err error
	if pair == nil {
		pair, err = sctp.Transport().ICETransport().GetSelectedCandidatePair()
	}
	if err != nil || pair == nil || pair.Local == nil || pair.Remote == nil ||
		pair.Local.Protocol != webrtc.ICEProtocolUDP || int(pair.Local.Port) != d.port ||
		pair.Local.Typ != webrtc.ICECandidateTypeHost {
		return nil, err
	}
	addr, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		return nil, nil // an mDNS name or such: Pion resolves it, we do not
	}
	k, err := srtpKeys(pc)
	if err != nil {
		return nil, err
	}
	rc, err := srtpfast.NewRTCPContext(k.profile, k.remoteKey, k.remoteSalt)
	if err != nil {
		return nil, err
	}
	sc, err := srtpfast.NewRTCPContext(k.profile, k.localKey, k.localSalt)
	if err != nil {
		return nil, err
	}
	ap := netip.AddrPortFrom(addr.Unmap(), pair.Remote.Port)
	return &route{to: newDest(ap), profile: k.profile, key: k.localKey, salt: k.localSalt, rtcp: rc, seal: sc}, nil
}

// close stops intercepting the subscriber's RTCP.
func (d *downlink) close() {
	if r := d.route.Swap(nil); r != nil && d.router != nil {
		d.router.remove(r.to.addr, d)
	}
}
