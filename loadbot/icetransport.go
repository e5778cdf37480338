package loadbot

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/sfu/signal"
)

// ICE transports a run can force its bots onto (Config.ICETransport,
// --ice-transport). They are also the path names a report gives each bot.
const (
	ICEUDP      = "udp"       // host candidates over UDP (the default)
	ICETCP      = "tcp"       // ICE-TCP: the bot makes active TCP candidates, the SFU listens
	ICERelayUDP = "relay-udp" // through the TURN server of joined.ice_servers, over UDP
	ICERelayTCP = "relay-tcp" // TURN over TCP
	ICERelayTLS = "relay-tls" // TURN over TLS (turns:)
)

// FailTURN is the join failure of a relay bot that got no relay candidate:
// no TURN server of the wanted kind in joined.ice_servers, or its
// allocation failed.
const FailTURN = "turn_allocation"

// ErrNoRelay says why a relay bot failed with FailTURN.
var ErrNoRelay = errors.New("no TURN relay candidate: the SFU offered no TURN server of this kind, or the allocation failed")

func validICETransport(c *Config) error {
	switch c.ICETransport {
	case "", ICEUDP, ICETCP, ICERelayUDP, ICERelayTCP, ICERelayTLS:
	default:
		return fmt.Errorf("%w: ice_transport must be udp, tcp, relay-udp, relay-tcp or relay-tls, not %q", ErrConfig, c.ICETransport)
	}
	if c.TURNCA != "" && c.ICETransport != ICERelayTLS {
		return fmt.Errorf("%w: turn_ca only applies to ice_transport relay-tls", ErrConfig)
	}
	return nil
}

// iceTransport is a run's forced path, shared by every bot.
type iceTransport struct {
	mode string
	tls  *tls.Config // relay-tls: how the TURN server's certificate is checked
}

func newICETransport(cfg Config) (iceTransport, error) {
	t := iceTransport{mode: cfg.ICETransport}
	if t.mode == "" {
		t.mode = ICEUDP
	}
	if t.mode == ICERelayTLS {
		t.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TURNCA != "" {
			pem, err := os.ReadFile(cfg.TURNCA)
			if err != nil {
				return t, fmt.Errorf("%w: turn_ca: %v", ErrConfig, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return t, fmt.Errorf("%w: turn_ca %s holds no PEM certificate", ErrConfig, cfg.TURNCA)
			}
			t.tls.RootCAs = pool
		}
	}
	return t, nil
}

func (t iceTransport) relay() bool { return strings.HasPrefix(t.mode, "relay-") }

// apply sets up a bot's SettingEngine for the path.
func (t iceTransport) apply(se *webrtc.SettingEngine) {
	if t.relay() {
		// Pion's controlling agent waits 2 s before it nominates a relay
		// pair, in case a direct one turns up; with iceTransportPolicy
		// relay none can, and a browser would not wait either.
		se.SetRelayAcceptanceMinWait(0)
	}
	switch t.mode {
	case ICETCP:
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	case ICERelayTLS:
		// Pion's own TURN-over-TLS client checks the certificate against
		// the system roots only; through a proxy dialer loadbot does the
		// TLS itself, with turn_ca when given.
		se.SetICEProxyDialer(tlsDialer{cfg: t.tls})
	}
}

// servers picks the joined message's TURN URLs for the path: relay modes
// use only the URLs of their kind, the others none (host candidates
// reach the SFU directly).
func (t iceTransport) servers(in []signal.ICEServer) []webrtc.ICEServer {
	if !t.relay() {
		return nil
	}
	var out []webrtc.ICEServer
	for _, s := range in {
		var urls []string
		for _, u := range s.URLs {
			if t.wants(u) {
				urls = append(urls, u)
			}
		}
		if len(urls) > 0 && s.Username != "" {
			out = append(out, webrtc.ICEServer{URLs: urls, Username: s.Username, Credential: s.Credential})
		}
	}
	return out
}

func (t iceTransport) wants(url string) bool {
	tcp := strings.Contains(url, "transport=tcp")
	switch t.mode {
	case ICERelayUDP:
		return strings.HasPrefix(url, "turn:") && !tcp
	case ICERelayTCP:
		return strings.HasPrefix(url, "turn:") && tcp
	case ICERelayTLS:
		return strings.HasPrefix(url, "turns:")
	}
	return false
}

// tlsDialer dials TURN-over-TLS servers for Pion (SetICEProxyDialer).
type tlsDialer struct{ cfg *tls.Config }

func (d tlsDialer) Dial(network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cfg := d.cfg.Clone()
	cfg.ServerName = host
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return (&tls.Dialer{NetDialer: &net.Dialer{}, Config: cfg}).DialContext(ctx, network, addr)
}

// botICE is one bot's side of the path: the ICE servers its join got, the
// path its PeerConnection selected, when its first relay candidate (its
// TURN allocation) arrived.
type botICE struct {
	mu      sync.Mutex
	servers []webrtc.ICEServer
	path    string
	relayed bool
}

// onJoined takes the ICE servers of the joined message.
func (b *bot) onJoinedICE(servers []signal.ICEServer) {
	picked := b.env.ice.servers(servers)
	b.ice.mu.Lock()
	b.ice.servers = picked
	b.ice.mu.Unlock()
}

// pcConfig is the configuration of the bot's PeerConnections.
func (b *bot) pcConfig() webrtc.Configuration {
	b.ice.mu.Lock()
	defer b.ice.mu.Unlock()
	cfg := webrtc.Configuration{ICEServers: b.ice.servers}
	if b.env.ice.relay() {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return cfg
}

// watchICE follows pc's gathering and pair selection: the first relay
// candidate ends the TURN allocation stage (timed from now, when pc was
// created: a subscriber's starts only when the SFU offers); a relay bot
// whose gathering ends without one fails; the selected pair names the path.
func (b *bot) watchICE(pc *webrtc.PeerConnection) {
	relay := b.env.ice.relay()
	created := time.Now()
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if !relay {
			return
		}
		b.ice.mu.Lock()
		first := c != nil && c.Typ == webrtc.ICECandidateTypeRelay && !b.ice.relayed
		none := c == nil && !b.ice.relayed
		if first {
			b.ice.relayed = true
		}
		b.ice.mu.Unlock()
		switch {
		case first:
			took := time.Since(created)
			b.mu.Lock()
			if b.timing.TURNAllocated == 0 {
				b.timing.TURNAllocated = took
			}
			b.mu.Unlock()
		case none:
			b.emit(botEvent{kind: "fail", why: FailTURN, err: ErrNoRelay})
		}
	})
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		if p == nil || p.Local == nil {
			return
		}
		path := pathOf(p.Local, b.env.ice.mode)
		b.ice.mu.Lock()
		b.ice.path = path
		b.ice.mu.Unlock()
	})
}

// pathOf names the path of a selected pair by its local candidate. A relay
// candidate does not say how it reaches its TURN server; the bot only
// uses TURN URLs of its run's kind, so that kind is the path.
func pathOf(local *webrtc.ICECandidate, mode string) string {
	switch {
	case local.Typ == webrtc.ICECandidateTypeRelay && strings.HasPrefix(mode, "relay-"):
		return mode
	case local.Typ == webrtc.ICECandidateTypeRelay:
		return ICERelayUDP
	case local.Protocol == webrtc.ICEProtocolTCP:
		return ICETCP
	}
	return ICEUDP
}

// icePath is the path the bot's media took; empty if it never connected.
func (b *bot) icePath() string {
	b.ice.mu.Lock()
	defer b.ice.mu.Unlock()
	return b.ice.path
}
