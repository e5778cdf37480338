// Package turn is Surge's embedded TURN server (RFC 5766, on pion/turn) and
// the TURN REST credentials the SFU hands each participant, so that clients
// behind symmetric NATs and UDP-blocking firewalls can still reach the SFU.
//
// Clients reach it over UDP, TCP or TLS; each allocation relays UDP from a
// relay port to its peers. Data enters at the listeners, where a tap (see
// tap.go) adds what pion lacks: per-identity quotas, a lifetime cap and
// accounting; it leaves through relay sockets (relay.go) that check every
// packet against the peer filter, so the server relays to the SFU's own
// media address but never into the operator's network. Credentials are
// verified without state (credentials.go): the same ones work on an
// external coturn configured with the same secret.
package turn

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
	pionturn "github.com/pion/turn/v2"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu/pionlog"
)

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithMetrics sets the collectors (default: unregistered ones).
func WithMetrics(m *metrics.TURN) Option { return func(s *Server) { s.m = m } }

// WithClock sets the clock credentials are checked against.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithRelayNet sets the network relay sockets are opened on (default: the
// host's). Tests use it to see every packet a relay would send.
func WithRelayNet(n transport.Net) Option { return func(s *Server) { s.relayNet = n } }

// WithPeerExceptions allows these exact peers inside the denied ranges: the
// SFU's own media addresses.
func WithPeerExceptions(peers ...netip.AddrPort) Option {
	return func(s *Server) { s.exceptions = append(s.exceptions, peers...) }
}

// Server is a running embedded TURN server.
type Server struct {
	cfg        Config
	log        *slog.Logger
	m          *metrics.TURN
	now        func() time.Time
	relayNet   transport.Net
	exceptions []netip.AddrPort

	secret       string
	filter       *PeerFilter
	ledger       *ledger
	bind, public netip.Addr
	logs         pionlog.Bucket // the server's own peer-triggered lines

	pion    *pionturn.Server
	udp     net.PacketConn
	streams []*streamListener
	tcpAddr net.Addr
	tlsAddr net.Addr

	closeOnce sync.Once
	closeErr  error
}

// Listen validates cfg, binds the configured listeners and serves until
// Close.
func Listen(cfg Config, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled {
		return nil, fmt.Errorf("%w: turn.enabled is false", ErrConfig)
	}
	s := &Server{cfg: cfg, log: slog.Default(), now: time.Now, secret: cfg.Secret}
	for _, o := range opts {
		o(s)
	}
	if s.m == nil {
		s.m = metrics.NewTURN(nil)
	}
	if s.relayNet == nil {
		n, err := stdnet.NewNet()
		if err != nil {
			return nil, err
		}
		s.relayNet = n
	}
	if s.secret == "" {
		var b [24]byte
		_, _ = rand.Read(b[:])
		s.secret = base64.RawStdEncoding.EncodeToString(b[:])
	}
	var err error
	if s.filter, err = NewPeerFilter(cfg.DeniedPeers, cfg.AllowedPeers, s.exceptions); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	s.ledger = newLedger(cfg.UserQuota, func(t metrics.TURNTransport, d int) { s.m.Allocations(t).Add(float64(d)) })
	s.bind = netip.MustParseAddr(cfg.RelayIP)
	s.public = s.bind
	if cfg.RelayPublicIP != "" {
		s.public = netip.MustParseAddr(cfg.RelayPublicIP)
	}
	if err := s.listen(); err != nil {
		s.closeListeners()
		return nil, err
	}
	s.log.Info("TURN listening", "udp", addrString(s.udp), "tcp", s.tcpAddr, "tls", s.tlsAddr, "relay_ip", s.public.String(), "urls", s.URLs())
	return s, nil
}

func (s *Server) listen() error {
	gen := &relayGen{srv: s, net: s.relayNet, bind: s.bind, public: s.public, min: s.cfg.RelayPortMin, max: s.cfg.RelayPortMax}
	perm := func(_ net.Addr, peer net.IP) bool {
		ip, ok := netip.AddrFromSlice(peer)
		if ok && s.filter.PermitIP(ip) {
			return true
		}
		s.m.Denied(metrics.TURNDeniedPermission).Inc()
		s.logPeer("TURN permission refused: peer address is in a denied range", "peer", peer.String())
		return false
	}
	// Connections idle longer than an allocation can live have nothing left.
	idle := s.cfg.MaxAllocationLifetime + time.Minute
	var pcs []pionturn.PacketConnConfig
	var lns []pionturn.ListenerConfig
	if s.cfg.UDPAddr != "" {
		pc, err := net.ListenPacket("udp", s.cfg.UDPAddr)
		if err != nil {
			return fmt.Errorf("TURN UDP %s: %w", s.cfg.UDPAddr, err)
		}
		s.udp = pc
		t := &tap{srv: s, transport: metrics.TURNUDP, listener: pc.LocalAddr().String()}
		pcs = append(pcs, pionturn.PacketConnConfig{PacketConn: &packetConn{PacketConn: pc, tap: t}, RelayAddressGenerator: gen, PermissionHandler: perm})
	}
	if s.cfg.TCPAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.TCPAddr)
		if err != nil {
			return fmt.Errorf("TURN TCP %s: %w", s.cfg.TCPAddr, err)
		}
		s.tcpAddr = ln.Addr()
		sl := newStreamListener(ln, &tap{srv: s, transport: metrics.TURNTCP, listener: ln.Addr().String()}, idle)
		s.streams = append(s.streams, sl)
		lns = append(lns, pionturn.ListenerConfig{Listener: sl, RelayAddressGenerator: gen, PermissionHandler: perm})
	}
	if s.cfg.TLSEnabled() {
		cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
		if err != nil {
			return fmt.Errorf("%w: TURN TLS certificate: %v", ErrConfig, err)
		}
		ln, err := net.Listen("tcp", s.cfg.TLSAddr)
		if err != nil {
			return fmt.Errorf("TURN TLS %s: %w", s.cfg.TLSAddr, err)
		}
		s.tlsAddr = ln.Addr()
		tl := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		sl := newStreamListener(tl, &tap{srv: s, transport: metrics.TURNTLS, listener: ln.Addr().String()}, idle)
		s.streams = append(s.streams, sl)
		lns = append(lns, pionturn.ListenerConfig{Listener: sl, RelayAddressGenerator: gen, PermissionHandler: perm})
	}
	var err error
	s.pion, err = pionturn.NewServer(pionturn.ServerConfig{
		PacketConnConfigs: pcs,
		ListenerConfigs:   lns,
		Realm:             s.cfg.Realm,
		AuthHandler:       s.authenticate,
		LoggerFactory:     pionlog.New(s.log),
	})
	return err
}

// authenticate is pion's AuthHandler: the long-term key of a valid,
// unexpired TURN REST username in our realm.
func (s *Server) authenticate(username, realm string, _ net.Addr) ([]byte, bool) {
	_, key, err := s.credential(username, realm)
	return key, err == nil
}

var errRealm = errors.New("wrong TURN realm")

// credential checks username and returns its identity and long-term key.
func (s *Server) credential(username, realm string) (identity string, key []byte, err error) {
	if realm != s.cfg.Realm {
		return "", nil, fmt.Errorf("%w %q", errRealm, truncate(realm))
	}
	if identity, err = checkUsername(username, s.now()); err != nil {
		return "", nil, err
	}
	return identity, pionturn.GenerateAuthKey(username, realm, Password(s.secret, username)), nil
}

func failureOf(err error) metrics.TURNFailure {
	if errors.Is(err, ErrExpired) {
		return metrics.TURNExpired
	}
	return metrics.TURNUnauthorized
}

// refuse counts and logs a refused Allocate.
func (s *Server) refuse(reason metrics.TURNFailure, username string, client net.Addr, err error) {
	s.m.Failures(reason).Inc()
	args := []any{"reason", reason.String(), "remote", client.String()}
	if username != "" {
		args = append(args, "username", truncate(username))
	}
	if err != nil {
		args = append(args, "err", err)
	}
	s.logPeer("TURN allocation refused", args...)
}

// logPeer logs a line a client can trigger at will, rate-limited.
func (s *Server) logPeer(msg string, args ...any) {
	if s.logs.Allow(time.Now()) {
		s.log.Info(msg, args...)
	}
}

// Credentials mints credentials for identity, valid for turn.credential_ttl.
func (s *Server) Credentials(identity string) (username, password string) {
	return Mint(s.secret, identity, s.cfg.CredentialTTL, s.now())
}

// URLs are the server's turn: and turns: URLs, as clients are given them.
func (s *Server) URLs() []string {
	var urls []string
	if s.udp != nil {
		urls = append(urls, "turn:"+s.hostPort(s.udp.LocalAddr())+"?transport=udp")
	}
	if s.tcpAddr != nil {
		urls = append(urls, "turn:"+s.hostPort(s.tcpAddr)+"?transport=tcp")
	}
	if s.tlsAddr != nil {
		urls = append(urls, "turns:"+s.hostPort(s.tlsAddr)+"?transport=tcp")
	}
	return urls
}

func (s *Server) hostPort(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String()
	}
	host := s.cfg.PublicHost
	if host == "" {
		host = ap.Addr().Unmap().String()
		if ap.Addr().IsUnspecified() {
			host = s.public.String()
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(int(ap.Port())))
}

// UDPAddr, TCPAddr and TLSAddr are the bound listener addresses, nil for a
// listener not started.
func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// TCPAddr is the bound TCP listener address, nil if not started.
func (s *Server) TCPAddr() net.Addr { return s.tcpAddr }

// TLSAddr is the bound TLS listener address, nil if not started.
func (s *Server) TLSAddr() net.Addr { return s.tlsAddr }

// IsRelayAddr reports whether addr is one of this server's open relay
// sockets (as bound or as advertised): the SFU uses it to tell a relayed
// client from one whose address it learned from connectivity checks.
func (s *Server) IsRelayAddr(addr netip.AddrPort) bool {
	ip := addr.Addr().Unmap()
	return (ip == s.bind || ip == s.public) && s.ledger.isRelay(addr.Port())
}

// Allocations is the number of live allocations.
func (s *Server) Allocations() int {
	live, _ := s.ledger.counts()
	return live
}

// Close stops the listeners, ends every connection and waits until every
// relay socket is closed.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.pion != nil {
			s.closeErr = s.pion.Close()
		}
		s.closeListeners()
		// Pion closes its allocations (and so the relay sockets) once its
		// read loops have returned; wait for that, boundedly.
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, open := s.ledger.counts(); open == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	return s.closeErr
}

func (s *Server) closeListeners() {
	if s.udp != nil {
		_ = s.udp.Close()
	}
	for _, sl := range s.streams {
		sl.closeAll()
	}
}

func addrString(pc net.PacketConn) string {
	if pc == nil {
		return ""
	}
	return pc.LocalAddr().String()
}
