package loadbot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/loadbot/stats"
	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/signal"
)

// Reasons a bot that had joined lost its session, beside the signaling
// codes the server sends with leave (e.g. server_draining, replaced).
const (
	DropServerGone = "server_gone" // WebSocket closed or failed mid-run
	DropPCFailed   = "pc_failed"   // ICE/DTLS failed after connecting
)

// botSpec says what one bot is.
type botSpec struct {
	id     string // identity: instance + room + index, unique across processes
	room   string
	role   role
	index  int
	link   LinkConfig // zero: unshaped
	noNACK bool
	capped bool // sends subscription caps (Config.Cap)
}

// bot is one participant. Its join runs on the goroutine that calls run;
// signaling messages arrive on the signal client's read goroutine; media on
// Pion's goroutines. mu guards the fields the three share.
type bot struct {
	spec botSpec
	env  *env

	start time.Time
	sig   *signalClient
	pub   *publisher
	sub   *subscriber
	link  *LinkStats
	ice   botICE

	events chan botEvent       // join progress, buffered; never blocks senders
	gone   chan struct{}       // closed when a joined session ended early
	outbox chan signal.Message // signaling the bot's media side asks run to send

	mu       sync.Mutex
	timing   stats.JoinTiming
	failure  string // join failure reason
	dropped  string // after joining: why the session ended early
	joinedOK bool
	closing  bool

	rc reconnectState // redirects and reconnects: redirect.go, reconnect.go
}

type botEvent struct {
	kind string // "joined", "connected", "media", "fail"
	why  string
	err  error
}

func newBot(spec botSpec, e *env) *bot {
	b := &bot{spec: spec, env: e, events: make(chan botEvent, 16), gone: make(chan struct{}), outbox: make(chan signal.Message, 8)}
	if spec.link.Shaped() {
		b.link = &LinkStats{}
	}
	return b
}

// emit reports join progress without ever blocking a Pion or read goroutine.
func (b *bot) emit(ev botEvent) {
	select {
	case b.events <- ev:
	default:
	}
}

// run joins, stays until ctx ends, then leaves. It returns when every
// goroutine the bot started has ended.
func (b *bot) run(ctx context.Context) {
	b.env.metrics.Bots(b.metricsRole(), metrics.BotConnecting).Inc()
	state := metrics.BotConnecting
	defer func() {
		b.close()
		b.env.metrics.Bots(b.metricsRole(), state).Dec()
	}()
	if err := b.join(ctx); err != nil {
		b.mu.Lock()
		if b.failure == "" {
			b.failure = failureReason(err)
		}
		reason := b.failure
		b.mu.Unlock()
		if ctx.Err() == nil {
			b.env.log.Debug("join failed", "room", b.spec.room, "participant", b.spec.id, "reason", reason, "err", err)
		}
		if reason != stats.FailCanceled {
			b.env.failed.Add(1)
		}
		b.env.metrics.Join(reason, time.Since(b.start))
		b.env.metrics.MoveBot(b.metricsRole(), state, metrics.BotFailed)
		state = metrics.BotFailed
		return
	}
	b.mu.Lock()
	b.joinedOK = true
	took := b.timing.FirstMedia
	if took == 0 {
		took = b.timing.ICEConnected
	}
	b.mu.Unlock()
	b.env.metrics.Join(metrics.JoinOK, took)

	b.env.metrics.MoveBot(b.metricsRole(), state, metrics.BotConnected)
	state = metrics.BotConnected
	b.stay(ctx)
}

// post queues a signaling message for stay to send; dropped if the queue is
// full (the bot is not keeping up with its own requests).
func (b *bot) post(m signal.Message) {
	select {
	case b.outbox <- m:
	default:
	}
}

func (b *bot) metricsRole() metrics.Role {
	if b.spec.role == rolePublisher {
		return metrics.RolePublisher
	}
	return metrics.RoleSubscriber
}

// join goes from nothing to media flowing, within the join timeout.
func (b *bot) join(ctx context.Context) error {
	cfg := b.env.cfg
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
	defer cancel()
	b.start = time.Now()

	token := cfg.Token
	if token == "" {
		var err error
		token, err = auth.Mint(cfg.APIKey, cfg.APISecret, auth.Grant{
			Room: b.spec.room, Identity: b.spec.id,
			CanPublish: b.spec.role == rolePublisher, CanSubscribe: b.spec.role == roleSubscriber,
		}, cfg.Duration+cfg.Grace+time.Hour, b.start)
		if err != nil {
			return fmt.Errorf("%w: mint token: %v", ErrConfig, err)
		}
	}

	url := b.nextURL()
	sig, err := dialSignal(ctx, url, b.env.http)
	if err != nil {
		return &joinError{reason: stats.FailWSDial, err: err}
	}
	b.mu.Lock()
	if b.closing { // the run ended while dialing
		b.mu.Unlock()
		sig.close(false)
		return &joinError{reason: stats.FailCanceled, err: ctx.Err()}
	}
	b.sig = sig
	b.rc.url = url
	b.timing.WSOpen = time.Since(b.start)
	b.mu.Unlock()

	b.mu.Lock()
	if b.spec.role == rolePublisher {
		b.pub = newPublisher(b)
	} else if b.sub == nil { // a rejoin keeps the subscriber and its stats
		b.sub = newSubscriber(b)
	}
	b.mu.Unlock()
	b.startSignal(sig)
	if err := sig.send(signal.Message{Type: signal.TypeJoin, Token: token}); err != nil {
		return &joinError{reason: DropServerGone, err: err}
	}

	joined, connected, answered, media := false, false, false, false
	// A rejoin is done at joined: its publisher may still be rejoining too,
	// and the media gap is measured apart (stay).
	needMedia := b.spec.role == roleSubscriber && cfg.Publishers > 0 && !b.rc.rejoining
	for {
		select {
		case ev := <-b.events:
			switch ev.kind {
			case "joined":
				joined = true
				b.setTiming(func(t *stats.JoinTiming, d time.Duration) { t.Joined = d })
				if b.pub != nil {
					if err := b.pub.offer(); err != nil {
						return &joinError{reason: stats.FailSignaling, err: err}
					}
				}
				if b.sub != nil && !needMedia {
					return nil // nothing will ever be offered to it
				}
			case "answered":
				answered = true
				if connected {
					b.pub.startSending()
					b.setTiming(func(t *stats.JoinTiming, d time.Duration) { t.FirstMedia = d })
					return nil
				}
			case "connected":
				connected = true
				b.setTiming(func(t *stats.JoinTiming, d time.Duration) { t.ICEConnected = d })
				if b.pub != nil && answered {
					b.pub.startSending()
					b.setTiming(func(t *stats.JoinTiming, d time.Duration) { t.FirstMedia = d })
					return nil
				}
			case "media":
				if !connected {
					// Media decrypted on the bot's own socket can come
					// before Pion reports the connection: it proves ICE
					// (and DTLS) connected by now, and the join ends here.
					connected = true
					b.setTiming(func(t *stats.JoinTiming, d time.Duration) { t.ICEConnected = d })
				}
				if !media {
					media = true
					b.setTiming(func(t *stats.JoinTiming, d time.Duration) { t.FirstMedia = d })
				}
				if connected || b.sub != nil {
					return nil
				}
			case "redirect":
				if err := b.followRedirect(ctx, ev.why, token); err != nil {
					return err
				}
			case "fail":
				return &joinError{reason: ev.why, err: ev.err}
			}
		case <-ctx.Done():
			switch {
			case parent.Err() != nil:
				return &joinError{reason: stats.FailCanceled, err: parent.Err()}
			case !joined:
				return &joinError{reason: "join_timeout", err: ErrJoinTimeout}
			case !connected:
				return &joinError{reason: stats.FailICETimeout, err: ErrICETimeout}
			default:
				return &joinError{reason: stats.FailNoMedia, err: ErrNoMedia}
			}
		}
	}
}

func (b *bot) setTiming(f func(*stats.JoinTiming, time.Duration)) {
	d := time.Since(b.start)
	b.mu.Lock()
	f(&b.timing, d)
	b.mu.Unlock()
}

// onMessage handles one signaling message on the read goroutine.
func (b *bot) onMessage(m signal.Message) {
	switch m.Type {
	case signal.TypeJoined:
		b.onJoinedICE(m.ICEServers)
		b.emit(botEvent{kind: "joined"})
	case signal.TypeRedirect:
		b.onRedirect(m)
	case signal.TypeError:
		b.emit(botEvent{kind: "fail", why: string(m.Code), err: &signal.Error{Code: m.Code, Reason: m.Reason}})
		b.endSession(string(m.Code))
	case signal.TypeLeave:
		why := string(m.Code)
		if why == "" {
			why = DropServerGone
		}
		b.emit(botEvent{kind: "fail", why: why, err: &signal.Error{Code: m.Code, Reason: m.Reason}})
		b.endSession(why)
	case signal.TypeAnswer:
		if b.pub != nil {
			if err := b.pub.onAnswer(m.SDP); err != nil {
				b.emit(botEvent{kind: "fail", why: stats.FailSignaling, err: err})
			}
		}
	case signal.TypeOffer:
		if b.sub != nil && m.Target == signal.TargetSubscriber {
			if err := b.sub.onOffer(m.SDP); err != nil {
				b.emit(botEvent{kind: "fail", why: stats.FailSignaling, err: err})
			}
		}
	case signal.TypeCandidate:
		if m.Candidate == nil {
			return
		}
		init := webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid,
			SDPMLineIndex: m.Candidate.SDPMLineIndex, UsernameFragment: m.Candidate.UsernameFragment}
		switch {
		case m.Target == signal.TargetPublisher && b.pub != nil:
			b.pub.addCandidate(init)
		case m.Target == signal.TargetSubscriber && b.sub != nil:
			b.sub.addCandidate(init)
		}
	}
}

// onSignalEnd runs when the WebSocket ends without the bot closing it.
func (b *bot) onSignalEnd(err error) {
	b.emit(botEvent{kind: "fail", why: DropServerGone, err: err})
	b.endSession(DropServerGone)
}

// endSession records why a joined bot's session ended before the run did.
func (b *bot) endSession(why string) {
	b.mu.Lock()
	if b.joinedOK && !b.closing && b.dropped == "" {
		b.dropped = why
		close(b.gone)
	}
	b.mu.Unlock()
}

// pcStateChange feeds a PeerConnection's state into the join or the drop
// counters.
func (b *bot) pcStateChange(s webrtc.PeerConnectionState) {
	switch s {
	case webrtc.PeerConnectionStateConnected:
		b.emit(botEvent{kind: "connected"})
	case webrtc.PeerConnectionStateFailed:
		b.emit(botEvent{kind: "fail", why: stats.FailICETimeout, err: ErrICETimeout})
		b.endSession(DropPCFailed)
	}
}

// close leaves and releases everything; safe to call more than once.
func (b *bot) close() {
	b.mu.Lock()
	b.closing = true
	sig, pub, sub := b.sig, b.pub, b.sub
	b.mu.Unlock()
	if pub != nil {
		pub.close()
	}
	if sub != nil {
		sub.close()
	}
	if sig != nil {
		sig.close(true)
	}
}

// subscriber returns the bot's subscriber side once the join created it.
func (b *bot) publisher() *publisher {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pub
}

func (b *bot) subscriber() *subscriber {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sub
}

// result is a bot's outcome, safe to call after run returned.
func (b *bot) result() botResult {
	b.mu.Lock()
	r := botResult{spec: b.spec, timing: b.timing, failure: b.failure, dropped: b.dropped, joined: b.joinedOK, path: b.icePath()}
	r.reconnect = b.reconnectResult()
	sub := b.sub
	b.mu.Unlock()
	if sub != nil {
		r.tracks = sub.snapshots()
	}
	return r
}

// botResult is what the report needs from one bot.
type botResult struct {
	spec    botSpec
	timing  stats.JoinTiming
	joined  bool
	failure string
	dropped string
	path    string // ICE path its media took (ICEUDP, ...); empty if never connected
	tracks  []stats.Snapshot

	reconnect reconnectResult
}

// joinError carries the reason a join failed.
type joinError struct {
	reason string
	err    error
}

func (e *joinError) Error() string { return e.reason + ": " + fmt.Sprint(e.err) }
func (e *joinError) Unwrap() error { return e.err }

func failureReason(err error) string {
	var je *joinError
	if errors.As(err, &je) {
		return je.reason
	}
	if c, ok := codeOf(err); ok {
		return string(c)
	}
	return "error"
}

// setLocalGathered applies a local description and waits for ICE gathering,
// so the SDP sent carries every candidate: a bot then needs no trickle
// of its own, and on loopback gathering takes milliseconds.
func setLocalGathered(pc *webrtc.PeerConnection, d webrtc.SessionDescription) error {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		return err
	}
	select {
	case <-gathered:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("ICE gathering did not complete")
	}
}

// candidates holds the server's trickled ICE candidates until the remote
// description they belong to is applied: Pion refuses them before that.
type candidates struct {
	mu      sync.Mutex
	pc      *webrtc.PeerConnection // set once a remote description is applied
	pending []webrtc.ICECandidateInit
}

func (c *candidates) add(ci webrtc.ICECandidateInit) {
	c.mu.Lock()
	pc := c.pc
	if pc == nil {
		c.pending = append(c.pending, ci)
	}
	c.mu.Unlock()
	if pc != nil {
		_ = pc.AddICECandidate(ci)
	}
}

// ready marks pc's remote description applied and adds what was held back.
func (c *candidates) ready(pc *webrtc.PeerConnection) {
	c.mu.Lock()
	c.pc = pc
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, ci := range pending {
		_ = pc.AddICECandidate(ci)
	}
}
