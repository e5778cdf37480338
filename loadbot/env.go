package loadbot

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
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

	pubAPI, subAPI, subNoNACKAPI *webrtc.API

	// packetHook, for tests, sees every packet a subscriber receives.
	packetHook func(b *bot, kind stats.Kind, pkt *rtp.Packet, now time.Time)

	nackTracks sync.Map // media SSRC → *stats.TrackStats, for NACK counts

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
	if e.pubAPI, err = newAPI(apiOptions{role: rolePublisher, srtp: cfg.SRTP, loopbackOnly: e.loopbackOnly}); err != nil {
		return nil, err
	}
	if e.subAPI, err = newAPI(apiOptions{role: roleSubscriber, srtp: cfg.SRTP, loopbackOnly: e.loopbackOnly, nackTracks: &e.nackTracks}); err != nil {
		return nil, err
	}
	if e.subNoNACKAPI, err = newAPI(apiOptions{role: roleSubscriber, srtp: cfg.SRTP, noNACK: true, loopbackOnly: e.loopbackOnly}); err != nil {
		return nil, err
	}
	return e, nil
}

// apiFor returns the API a bot uses: the shared one, or for a shaped bot
// its own, whose network is the shaped link (a SettingEngine holds one
// transport.Net, so sharing is impossible there).
func (e *env) apiFor(spec botSpec, link *LinkStats) (*webrtc.API, error) {
	if !spec.link.Shaped() {
		switch {
		case spec.role == rolePublisher:
			return e.pubAPI, nil
		case spec.noNACK:
			return e.subNoNACKAPI, nil
		default:
			return e.subAPI, nil
		}
	}
	n, err := newShapedNet(spec.link, link, uint64(time.Now().UnixNano()))
	if err != nil {
		return nil, err
	}
	return newAPI(apiOptions{role: spec.role, srtp: e.cfg.SRTP, net: n, noNACK: spec.noNACK, loopbackOnly: e.loopbackOnly, nackTracks: &e.nackTracks})
}

func (e *env) close() { e.http.CloseIdleConnections() }

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
