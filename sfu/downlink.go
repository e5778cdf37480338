package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/sfu/bwe"
	"github.com/surgertc/surge/sfu/srtpsend"
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
	hist *bwe.History
	sock *sendSocket // nil: no fast path on this server
	port int         // the media socket's port

	route atomic.Pointer[route]

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
	profile srtpsend.Profile
	key     []byte
	salt    []byte
}

func newDownlink(cfg bwe.Config, pcfg bwe.ProbeConfig, sock *sendSocket, now time.Time) *downlink {
	h := bwe.NewHistory(now)
	d := &downlink{
		hist:   h,
		sock:   sock,
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
	return d
}

// onFeedback takes one TWCC feedback packet from the subscriber.
func (d *downlink) onFeedback(fb *rtcp.TransportLayerCC, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sawFB = true
	d.results = d.fb.Results(fb, now, d.results[:0])
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
	sctp := pc.SCTP()
	if sctp == nil {
		d.route.Store(nil)
		return nil
	}
	var err error
	if pair == nil {
		pair, err = sctp.Transport().ICETransport().GetSelectedCandidatePair()
	}
	if err != nil || pair == nil || pair.Local == nil || pair.Remote == nil ||
		pair.Local.Protocol != webrtc.ICEProtocolUDP || int(pair.Local.Port) != d.port ||
		pair.Local.Typ != webrtc.ICECandidateTypeHost {
		d.route.Store(nil)
		return err
	}
	addr, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		d.route.Store(nil)
		return nil // an mDNS name or such: Pion resolves it, we do not
	}
	prof, key, salt, err := sendKeys(pc)
	if err != nil {
		d.route.Store(nil)
		return err
	}
	d.route.Store(&route{to: newDest(netip.AddrPortFrom(addr.Unmap(), pair.Remote.Port)), profile: prof, key: key, salt: salt})
	return nil
}
