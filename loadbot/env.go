package loadbot

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/rtp"
	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/loadbot/stats"
	"github.com/surgertc/surge/metrics"
)

// env is what every bot of a run shares: configuration, the webrtc APIs of
// unshaped bots, one HTTP client for the WebSocket dials, metrics and the
// run's counters.
type env struct {
	cfg          Config
	log          *slog.Logger
	metrics      *metrics.Loadbot
	http         *http.Client
	loopbackOnly bool

	pubAPI *webrtc.API
	host   transport.Net // the host's network, shared by unshaped subscribers
	ice    iceTransport  // the run's forced ICE path

	// feedback sends every subscriber's RTCP; reactors read unshaped
	// subscribers' sockets (nil where unsupported).
	feedback *feedbackLoop
	reactors *reactors

	// packetHook, for tests, sees every packet a subscriber receives.
	packetHook func(b *bot, kind stats.Kind, pkt *rtp.Packet, now time.Time)

	// clocks, set by a coordinator, say how subscribers time each room's
	// publishers; nil: all in this process.
	clocks map[string]RoomClock

	up     atomic.Int64 // bots joined and still in session
	failed atomic.Int64 // failed joins
}

func newEnv(cfg Config, log *slog.Logger, m *metrics.Loadbot) (*env, error) {
	e := &env{cfg: cfg, log: log, metrics: m, loopbackOnly: isLoopbackURL(cfg.URL)}
	// Bots dial in bursts; keep the handshakes from queueing behind the
	// default two idle connections per host.
	tr := &http.Transport{
		Proxy:               nil, // never send loopback signaling through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	e.http = &http.Client{Transport: tr}
	var err error
	if e.ice, err = newICETransport(cfg); err != nil {
		return nil, err
	}
	if e.pubAPI, err = newAPI(apiOptions{role: rolePublisher, srtp: cfg.SRTP, loopbackOnly: e.loopbackOnly, ice: e.ice}); err != nil {
		return nil, err
	}
	if e.host, err = stdnet.NewNet(); err != nil {
		return nil, err
	}
	if e.reactors, err = newReactors(runtime.GOMAXPROCS(0)); err != nil {
		return nil, err
	}
	e.feedback = newFeedbackLoop()
	return e, nil
}

// publisherAPI returns the API a publisher uses: the shared one, or its
// own when it runs a bandwidth estimator (onBWE gets it) or sits behind a
// shaped link (a SettingEngine holds one transport.Net).
func (e *env) publisherAPI(spec botSpec, link *LinkStats, onBWE func(cc.BandwidthEstimator)) (*webrtc.API, error) {
	if !spec.link.Shaped() && onBWE == nil {
		return e.pubAPI, nil
	}
	o := apiOptions{role: rolePublisher, srtp: e.cfg.SRTP, loopbackOnly: e.loopbackOnly, bwe: onBWE, layers: e.cfg.Layers, ice: e.ice}
	if spec.link.Shaped() {
		n, err := newShapedNet(spec.link, link, uint64(time.Now().UnixNano()))
		if err != nil {
			return nil, err
		}
		o.net = n
	}
	return newAPI(o)
}

// subscriberAPI returns the API of one subscriber: its sockets decrypt
// media for sink with the keys its DTLS connection logs to keys. A bot
// forced onto ICE-TCP or a TURN relay (ice_transport) keeps Pion's receive
// path: its media arrives framed (RFC 4571, TURN ChannelData) on sockets
// the fast path cannot read, and reaches sink through OnTrack.
func (e *env) subscriberAPI(b *bot, keys *srtpKeys, sink mediaSink) (*webrtc.API, error) {
	o := apiOptions{role: roleSubscriber, srtp: e.cfg.SRTP, loopbackOnly: e.loopbackOnly, ice: e.ice}
	var shaped transport.Net
	if b.spec.link.Shaped() {
		var err error
		if shaped, err = newShapedNet(b.spec.link, b.link, uint64(time.Now().UnixNano())); err != nil {
			return nil, err
		}
	}
	switch {
	case !e.fastPath():
		if shaped != nil {
			o.net = shaped
		}
	case shaped != nil:
		// The shaper sits between socket and ICE, so media is decrypted
		// on Pion's read goroutine, after the link delivered it.
		o.net, o.keyLog = &mediaNet{Net: shaped, keys: keys, sink: sink}, keys
	default:
		if o.net = newReactorNet(e.reactors, e.host, keys, sink); o.net == nil {
			o.net = &mediaNet{Net: e.host, keys: keys, sink: sink}
		}
		o.keyLog = keys
	}
	return newAPI(o)
}

// fastPath reports whether subscribers' sockets carry their media as
// plain SRTP datagrams, which the fast path decrypts where they are read:
// host candidates over UDP, not ICE-TCP or a relay.
func (e *env) fastPath() bool { return e.ice.mode == ICEUDP }

func (e *env) close() {
	e.feedback.close()
	e.reactors.close()
	e.http.CloseIdleConnections()
}

// isLoopbackURL reports whether the signaling URL names a loopback host:
// then ICE is kept to loopback too.
func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
