// Package sfu is Surge's selective forwarding unit: the HTTP front (WebSocket
// signaling at /rtc, admin endpoints), rooms and participants, and the packet
// path from each publisher's Receiver to every subscriber's DownTrack.
//
// Data enters as SRTP on the publish PeerConnection of a Participant, is read
// by a Receiver (one loop per simulcast layer), cached for NACKs and fanned
// out to DownTracks, which rewrite it into each subscriber's own stream and
// write it on the subscriber's PeerConnection. All media shares one UDP port.
package sfu

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/roomapi"
	"github.com/surgertc/surge/sfu/signal"
	"github.com/surgertc/surge/sfu/web"
	"github.com/surgertc/surge/sfu/webhook"
)

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithRegistry sets the registry the server's metrics are registered on and
// served from at the admin /metrics (default: a fresh registry).
func WithRegistry(r *prometheus.Registry) Option { return func(s *Server) { s.reg = r } }

// Server is a Surge SFU node.
type Server struct {
	cfg      Config
	log      *slog.Logger
	reg      *prometheus.Registry
	m        *metrics.SFU
	verifier *auth.Verifier

	engine  *rtcEngine
	guards  *guardMux // per-PeerConnection budgets in front of ICE
	udp     net.PacketConn
	conn    connectivity // ICE-TCP, embedded TURN
	sock    *sendSocket  // the fast send path's view of udp
	rtcpIn  *rtcpRouter  // subscribers whose RTCP is read off udp before Pion
	pubLn   net.Listener
	admLn   net.Listener
	pubHTTP *http.Server
	admHTTP *http.Server

	wrapRoomSvc func(roomapi.RoomService) roomapi.RoomService
	hooks       *webhook.Notifier // nil without webhook.urls
	certs       *certReloader     // nil without TLS
	proxies     proxySet
	version     string
	pionLevel   *slog.Level
	stages      *metrics.JoinStages
	// cluster is this node's membership of a multi-node cluster; nil when
	// redis.addr is not set (see clusterhost.go).
	cluster        clusterMember
	clusterMetrics *metrics.Cluster

	draining      atomic.Bool
	subscriptions atomic.Uint64 // orders DownTracks for the allocator
	ctx           context.Context
	cancel        context.CancelFunc
	serveWG       sync.WaitGroup // the two HTTP serve loops
	connWG        sync.WaitGroup // one per signaling connection, until its participant is freed

	mu       sync.Mutex
	rooms    map[string]*Room
	sessions map[*session]struct{}
	closed   bool
}

// NewServer validates cfg and builds a server; Start binds it.
func NewServer(cfg Config, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: slog.Default(), rooms: map[string]*Room{}, sessions: map[*session]struct{}{}}
	for _, o := range opts {
		o(s)
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	s.m = metrics.NewSFU(s.reg)
	s.registerNodeMetrics()
	s.verifier = auth.NewVerifier(cfg.keys(), nil)
	s.proxies, _ = parseProxies(cfg.TrustedProxies) // checked by Validate
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Start binds the public HTTP, admin HTTP and media UDP listeners. When a
// step fails, what the steps before it opened is closed again, in reverse
// order, and the goroutines they started are joined: a failed Start holds no
// port and leaves nothing running.
func (s *Server) Start() (err error) {
	var undo []func()
	defer func() {
		if err == nil {
			return
		}
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}()
	if s.udp, err = listenMedia(s.cfg.RTC.UDPAddr); err != nil {
		return fmt.Errorf("media UDP %s: %w", s.cfg.RTC.UDPAddr, err)
	}
	// The media socket is closed by whoever owns it last: this function
	// until the engine's ICE mux takes it over.
	closeMedia := s.udp.Close
	undo = append(undo, func() { _ = closeMedia() })
	muxed := s.udp
	if uc, ok := s.udp.(*net.UDPConn); ok {
		if s.sock, err = newSendSocket(uc, s.cfg.Forward.UDPGSO); err != nil {
			return err
		}
		undo = append(undo, func() { _ = s.sock.Close() })
		if s.sock.shared != nil {
			s.log.Warn("media sends share the media socket, which costs a poller wake-up per packet", "reason", s.sock.shared)
		}
		if s.sock.noGSO != nil {
			s.log.Info("media sends go one datagram per message", "reason", s.sock.noGSO)
		}
		if s.sock.gso.Load() {
			s.m.UDPGSO().Set(1)
		}
		s.sock.gsoRefused = func(err error) {
			s.m.UDPGSO().Set(0)
			s.log.Warn("the kernel refused a UDP GSO send: media sends go one datagram per message from now on", "err", err)
		}
		s.rtcpIn = newRTCPRouter()
		muxed = newMuxConn(uc, s.rtcpIn)
	}
	engineOpts, err := s.startConnectivity()
	if err != nil {
		return err
	}
	undo = append(undo, func() { _ = s.closeConnectivity() })
	wrap := func(m ice.UDPMux) ice.UDPMux {
		s.guards = newGuardMux(m, s.cfg.Peer, s.m, s.log)
		return s.guards
	}
	if s.engine, err = newRTCEngine(s.cfg.RTC, muxed, s.pionLogs(), wrap, engineOpts...); err != nil {
		s.engine = nil
		return err
	}
	closeMedia = s.engine.mux.Close
	// The certificate watcher (listenPublic) runs until the server's
	// context ends.
	undo = append(undo, func() { s.cancel(); s.serveWG.Wait() })
	if s.pubLn, err = net.Listen("tcp", s.cfg.ListenAddr); err != nil {
		s.pubLn = nil
		return fmt.Errorf("public HTTP %s: %w", s.cfg.ListenAddr, err)
	}
	if s.pubLn, err = s.listenPublic(s.pubLn); err != nil {
		s.pubLn = nil // listenPublic closed it
		return err
	}
	undo = append(undo, func() { _ = s.pubLn.Close() })
	if s.admLn, err = net.Listen("tcp", s.cfg.AdminAddr); err != nil {
		s.admLn = nil
		return fmt.Errorf("admin HTTP %s: %w", s.cfg.AdminAddr, err)
	}
	undo = append(undo, func() { _ = s.admLn.Close() })
	if err := s.startCluster(); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	s.pubHTTP = &http.Server{Handler: s.publicHandler(), ReadHeaderTimeout: 10 * time.Second}
	s.admHTTP = &http.Server{Handler: requireToken(s.cfg.Admin.Token, s.adminHandler()), ReadHeaderTimeout: 10 * time.Second}
	s.startWebhooks()
	s.serveWG.Add(2)
	go func() { defer s.serveWG.Done(); _ = s.pubHTTP.Serve(s.pubLn) }()
	go func() { defer s.serveWG.Done(); _ = s.admHTTP.Serve(s.admLn) }()
	s.log.Info("surge listening", "signal", s.URL(), "admin", s.AdminURL(), "media_udp", s.udp.LocalAddr().String(), "dev_key", s.cfg.UsesDevKey())
	return nil
}

// URL is the WebSocket signaling URL, e.g. ws://127.0.0.1:7880/rtc.
func (s *Server) URL() string {
	if s.pubLn == nil {
		return ""
	}
	return s.wsScheme() + "://" + s.pubLn.Addr().String() + "/rtc"
}

// AdminURL is the admin listener's base URL, e.g. http://127.0.0.1:7881.
func (s *Server) AdminURL() string {
	if s.admLn == nil {
		return ""
	}
	return "http://" + s.admLn.Addr().String()
}

// MediaAddr is the bound media UDP address.
func (s *Server) MediaAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// batch is a send batch for one fan-out; putBatch it when done.
func (s *Server) batch() *batch { return getBatch(s.sock, s.m) }

// Registry is the registry the server's metrics live on.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

func (s *Server) publicHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/rtc", s.handleRTC)
	mux.Handle(roomapi.Prefix, roomapi.NewHandler(s.RoomService(), s.verifier.Verify, s.log))
	mux.Handle("/", web.Handler())
	if s.cfg.UsesDevKey() {
		mux.HandleFunc("/dev/token", s.handleDevToken)
	}
	return mux
}

func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/debug/rooms", s.handleDebugRooms)
	mux.HandleFunc("/debug/cluster", s.handleDebugCluster)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", maskedCmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/rates", handleProfileRates)
	return mux
}

// handleDevToken mints a token for the demo page; it exists only while the
// built-in dev key is in use, which also pins the server to loopback.
func (s *Server) handleDevToken(w http.ResponseWriter, r *http.Request) {
	room, identity := r.URL.Query().Get("room"), r.URL.Query().Get("identity")
	if room == "" || identity == "" || len(room) > 128 || len(identity) > 128 {
		http.Error(w, "room and identity are required (at most 128 characters)", http.StatusBadRequest)
		return
	}
	tok, err := auth.Mint(auth.DevAPIKey, auth.DevAPISecret, auth.Grant{Room: room, Identity: identity, CanPublish: true, CanSubscribe: true}, 24*time.Hour, time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
}

func (s *Server) handleRTC(w http.ResponseWriter, r *http.Request) {
	// Origins are not checked: clients of an SFU are apps on other origins,
	// and the room token is what authorises a join.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	// The socket's own limit stops anything absurd before it is buffered;
	// messages between the protocol limit and this get a clear error.
	conn.SetReadLimit(int64(4 * s.cfg.Signal.MaxMessageBytes))
	sess := newSession(s.ctx, conn, s.sessionLog(r))
	sess.region = r.URL.Query().Get("region")
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		sess.sendAndClose(signal.Message{Type: signal.TypeError, Code: signal.CodeDraining, Reason: "server is shutting down"})
		sess.wait()
		return
	}
	s.sessions[sess] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
		sess.wait()
		s.connWG.Done()
	}()
	s.serveSession(sess)
}

// fail reports err to the client (or redirects it, see failMessage), closes
// its socket and waits until the writer is done, so that no later close of
// the session cuts the message off.
func fail(sess *session, err error) {
	sess.sendAndClose(failMessage(err))
	sess.wait()
}

func (s *Server) serveSession(sess *session) {
	limit := s.cfg.Signal.MaxMessageBytes
	m, err := sess.read(s.cfg.Signal.JoinTimeout, limit)
	if err != nil {
		var pe *signal.Error
		switch {
		case errors.As(err, &pe):
			s.log.Info("rejected signaling connection", "code", pe.Code, "reason", pe.Reason)
			s.m.Joins(metrics.JoinBadRequest).Inc()
			fail(sess, err)
		case errors.Is(err, errTimedOut):
			s.log.Info("rejected signaling connection", "code", signal.CodeTimeout)
			s.m.Joins(metrics.JoinBadRequest).Inc()
		default:
			sess.close()
		}
		return
	}
	if m.Type != signal.TypeJoin {
		s.m.Joins(metrics.JoinBadRequest).Inc()
		fail(sess, signal.Errorf(signal.CodeNotJoined, "the first message must be join, got %q", m.Type))
		return
	}
	p, err := s.join(sess, m)
	if err != nil {
		fail(sess, err)
		return
	}
	defer func() {
		p.stageEnd()
		p.room.leave(p)
		p.close()
		sess.close()
		p.log.Info("participant left")
	}()
	s.runParticipant(sess, p)
}

// join authenticates a join message and admits the participant.
func (s *Server) join(sess *session, m signal.Message) (*Participant, error) {
	grant, err := s.verifier.Verify(m.Token)
	switch {
	case errors.Is(err, auth.ErrExpired):
		s.m.Joins(metrics.JoinTokenExpired).Inc()
		s.log.Info("join refused", "reason", "token expired")
		return nil, signal.Errorf(signal.CodeTokenExpired, "the token has expired; get a new one")
	case err != nil:
		s.m.Joins(metrics.JoinUnauthorized).Inc()
		s.log.Info("join refused", "reason", err)
		return nil, signal.Errorf(signal.CodeUnauthorized, "invalid token: %v", err)
	}
	// An admin token for every room names none to join.
	if grant.Room == "" {
		s.m.Joins(metrics.JoinForbidden).Inc()
		return nil, signal.Errorf(signal.CodeForbidden, "token grants no room to join (an admin token is for the room API)")
	}
	// This goroutine creates the room's Pion connections, which inherit
	// the label: profiles can be cut by room.
	labelGoroutine(grant.Room)
	if m.Room != "" && m.Room != grant.Room {
		s.m.Joins(metrics.JoinForbidden).Inc()
		return nil, signal.Errorf(signal.CodeRoomMismatch, "token is for room %q, not %q", grant.Room, m.Room)
	}
	if !grant.CanPublish && !grant.CanSubscribe {
		s.m.Joins(metrics.JoinForbidden).Inc()
		return nil, signal.Errorf(signal.CodeForbidden, "token grants neither publish nor subscribe")
	}
	if s.draining.Load() {
		s.m.Joins(metrics.JoinDraining).Inc()
		return nil, signal.Errorf(signal.CodeDraining, "server is draining; join another node")
	}
	for {
		// In a cluster the room may live elsewhere; asked again on every
		// round, since a retry means the room closed meanwhile.
		if err := s.placeJoin(sess, grant); err != nil {
			return nil, err
		}
		room := s.room(grant.Room)
		if room == nil {
			s.m.Joins(metrics.JoinDraining).Inc()
			return nil, signal.Errorf(signal.CodeDraining, "server is shutting down")
		}
		p := newParticipant(s, room, sess, grant)
		if err := p.startSubscriber(); err != nil {
			s.m.Joins(metrics.JoinError).Inc()
			p.close()
			room.closeIfUnused()
			return nil, fmt.Errorf("create subscriber connection: %w", err)
		}
		tracks, err := room.join(p, signal.Message{
			Type: signal.TypeJoined, ParticipantID: p.id, Identity: grant.Identity, Room: grant.Room,
			ICEServers: s.iceServers(grant.Identity),
		})
		if errors.Is(err, errRoomClosed) {
			p.close()
			continue
		}
		if err != nil {
			p.close()
			s.m.Joins(metrics.JoinRoomFull).Inc()
			p.log.Info("join refused", "reason", err)
			return nil, err
		}
		s.m.Joins(metrics.JoinOK).Inc()
		s.emit(webhook.ParticipantJoined, room, p, nil)
		p.stageAdmitted()
		p.log.Info("participant joined", "publish", grant.CanPublish, "subscribe", grant.CanSubscribe)
		p.startController()
		sess.startPinger(s.cfg.Signal.PingInterval)
		p.subscribeAll(tracks)
		return p, nil
	}
}

// runParticipant reads the client's messages until it leaves or goes away.
// Errors in one message are reported to this client only; the room goes on.
func (s *Server) runParticipant(sess *session, p *Participant) {
	limit := s.cfg.Signal.MaxMessageBytes
	rate := float64(s.cfg.Peer.MaxSignalPerSecond)
	budget, warn := newTokenBucket(rate, 2*rate), newTokenBucket(1, 1)
	for {
		m, err := sess.read(s.cfg.Signal.PingTimeout, limit)
		if now := time.Now().UnixNano(); err == nil && m.Type != signal.TypeLeave && !budget.take(1, now) {
			// Dropped unanswered, but for one error a second: a flood must
			// not turn into a flood of replies.
			s.m.PeerLimited(metrics.LimitSignal).Inc()
			if warn.take(1, now) {
				sess.send(signal.ErrorMessage(signal.Errorf(signal.CodeRateLimited, "more than %d messages a second; %s was dropped", s.cfg.Peer.MaxSignalPerSecond, m.Type)))
			}
			continue
		}
		if err != nil {
			var pe *signal.Error
			if !errors.As(err, &pe) {
				if errors.Is(err, errTimedOut) {
					p.log.Info("signaling timed out", "after", s.cfg.Signal.PingTimeout)
				}
				return // socket closed
			}
			if sess.logAllowed(time.Now()) {
				p.log.Info("bad signaling message", "code", pe.Code, "reason", pe.Reason)
			}
			if pe.Code == signal.CodeTooLarge {
				fail(sess, err)
				return
			}
			sess.send(signal.ErrorMessage(err))
			continue
		}
		switch m.Type {
		case signal.TypeOffer:
			err = p.handlePublisherOffer(m.SDP)
		case signal.TypeAnswer:
			err = p.handleSubscriberAnswer(m.SDP)
		case signal.TypeCandidate:
			err = p.handleCandidate(m.Target, m.Candidate)
		case signal.TypeSubscription:
			err = p.handleSubscription(m)
		case signal.TypePing:
			sess.send(signal.Message{Type: signal.TypePong})
		case signal.TypePong:
		case signal.TypeJoin:
			err = signal.Errorf(signal.CodeAlreadyJoined, "this socket has already joined")
		case signal.TypeLeave:
			return
		}
		if err != nil {
			var pe *signal.Error
			switch {
			case !sess.logAllowed(time.Now()):
			case errors.As(err, &pe):
				p.log.Info("signaling request failed", "type", m.Type, "code", pe.Code, "reason", pe.Reason)
			case !errors.Is(err, ErrClosed):
				p.log.Warn("signaling request failed", "type", m.Type, "err", err)
			}
			sess.send(signal.ErrorMessage(err))
		}
	}
}

// room returns the named room, creating it; nil once the server is closing.
func (s *Server) room(name string) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	r := s.rooms[name]
	if r == nil {
		r = newRoom(s, name)
		s.rooms[name] = r
		s.m.Rooms().Inc()
		s.emit(webhook.RoomStarted, r, nil, nil)
	}
	return r
}

func (s *Server) removeRoom(r *Room) {
	if s.unlistRoom(r) {
		s.emit(webhook.RoomFinished, r, nil, nil)
	}
}

// unlistRoom takes r out of the room map (new joins open a fresh room) and
// reports whether it was there.
func (s *Server) unlistRoom(r *Room) bool {
	s.mu.Lock()
	removed := s.rooms[r.name] == r
	if removed {
		delete(s.rooms, r.name)
		s.m.Rooms().Dec()
	}
	s.mu.Unlock()
	if removed && s.cluster != nil {
		s.cluster.Release(r.name)
	}
	return removed
}

// Drain stops accepting joins, tells connected clients, waits for them to
// leave or ctx to end, then closes the server.
func (s *Server) Drain(ctx context.Context) error {
	if s.cluster != nil {
		s.cluster.Drain() // no new rooms here; this node's rooms are free to re-place
	}
	s.draining.Store(true)
	s.mu.Lock()
	n := len(s.sessions)
	for sess := range s.sessions {
		sess.send(signal.Message{Type: signal.TypeLeave, Code: signal.CodeDraining, Reason: "server is shutting down; reconnect to join another node"})
	}
	s.mu.Unlock()
	s.log.Info("draining", "sessions", n)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		n = len(s.sessions)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			s.log.Warn("drain deadline reached; closing remaining sessions", "sessions", n)
			return s.Close()
		case <-tick.C:
		}
	}
	return s.Close()
}

// Close stops everything and waits for every goroutine the server started.
func (s *Server) Close() error {
	if s.cluster != nil {
		// First, so that clients reconnecting elsewhere find the rooms
		// free at once rather than after the claims' TTL.
		_ = s.cluster.Close()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.draining.Store(true)
	for sess := range s.sessions {
		sess.close()
	}
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	s.cancel()
	var errs []error
	if s.pubHTTP != nil {
		errs = append(errs, s.pubHTTP.Close(), s.admHTTP.Close())
	}
	s.connWG.Wait()
	for _, r := range rooms {
		r.stop()
		s.removeRoom(r)
	}
	s.serveWG.Wait()
	if s.engine != nil {
		errs = append(errs, s.engine.mux.Close(), s.closeConnectivity())
	}
	errs = append(errs, s.sock.Close())
	s.stopWebhooks()
	s.log.Info("surge stopped")
	return errors.Join(errs...)
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + strings.ToLower(idEncoding.EncodeToString(b[:]))
}
