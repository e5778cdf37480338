// Package cluster lets several Surge nodes serve one set of rooms through a
// shared Redis. A room lives on one node. Each node writes its load to a
// registry every heartbeat and holds a claim (with a TTL) on every room it
// serves; the first join of a room claims it, atomically, for the
// least-loaded serving node, and a join that reaches another node is
// redirected there.
//
// Data enters from the sfu.Server (Place on each join, Release when a room
// closes, Drain, the Host's Stats each heartbeat) and from Redis; it leaves
// as placements (here, or a URL to redirect to), Host.Evict calls for rooms
// lost in a conflict, metrics and the registry views (View, Registry).
//
// The decisions are pure functions tested without Redis: Choose picks a
// node, Resolve settles a room claimed by two nodes. Node does the I/O
// around them. While Redis is unreachable a node keeps its rooms, places
// new rooms on itself and retries once per heartbeat; when Redis is back it
// re-registers and re-claims everything, and any room that two nodes now
// hold is settled by Resolve, the loser sending its clients to the winner.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/surgertc/surge/metrics"
)

// Host is what a node needs from the server it runs in.
type Host interface {
	// Stats returns the rooms open on this node and its traffic; it is
	// called once per heartbeat.
	Stats() HostStats
	// Evict hands over a room this node lost to another node: every
	// client of the room is sent a redirect to url and the room closes.
	Evict(room, url string)
}

// HostStats is the server's side of a node's load.
type HostStats struct {
	Rooms []RoomStat
	// PacketsSent is the cumulative count of packets forwarded.
	PacketsSent float64
}

// RoomStat is one open room.
type RoomStat struct {
	Name         string `json:"name"`
	Participants int    `json:"participants"`
}

// Placement is where a join should go.
type Placement struct {
	// Local: this node holds the room; admit the join here.
	Local bool
	// Node and URL name the node that holds the room when not Local; the
	// client is redirected to URL.
	Node string
	URL  string
}

// Option configures a Node.
type Option func(*Node)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(n *Node) { n.log = l } }

// WithMetrics sets the collectors (default: registered nowhere).
func WithMetrics(m *metrics.Cluster) Option { return func(n *Node) { n.m = m } }

// WithClock replaces time.Now (claim ages, registry timestamps).
func WithClock(now func() time.Time) Option { return func(n *Node) { n.now = now } }

// WithURLs gives the URLs the node advertises when the configuration names
// none: the bound signaling URL and admin URL.
func WithURLs(signal, admin string) Option {
	return func(n *Node) { n.defaultSignal, n.info.AdminURL = signal, admin }
}

// heldRoom is a room this node placed on itself or serves.
type heldRoom struct {
	claim Claim
	seen  time.Time // last time the host had the room open (or it was placed)
}

// Node is this server's membership in the cluster.
type Node struct {
	cfg           Config
	host          Host
	log           *slog.Logger
	m             *metrics.Cluster
	now           func() time.Time
	store         *store
	policy        Policy
	defaultSignal string

	info NodeInfo // the fixed fields: id, URLs, region, start

	up     atomic.Bool // the last Redis operation succeeded
	cancel context.CancelFunc
	done   chan struct{}

	mu          sync.Mutex
	held        map[string]*heldRoom
	draining    bool
	closed      bool
	load        Load
	cpu         *metrics.CPUSampler
	cpuAt       time.Time
	lastPackets float64
	lastAt      time.Time
}

// New builds a node; Start joins it to the cluster.
func New(cfg Config, host Host, opts ...Option) (*Node, error) {
	if !cfg.Redis.Enabled() {
		return nil, fmt.Errorf("%w: redis.addr is empty", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, host: host, log: slog.Default(), now: time.Now, held: map[string]*heldRoom{}, done: make(chan struct{})}
	for _, o := range opts {
		o(n)
	}
	if n.m == nil {
		n.m = metrics.NewCluster(nil)
	}
	n.policy = DefaultPolicy(cfg.Node.RegionHeadroom)
	n.info.ID = cfg.Node.ID
	if n.info.ID == "" {
		n.info.ID = generateID()
	}
	n.info.SignalURL = cfg.Node.SignalURL
	if n.info.SignalURL == "" {
		n.info.SignalURL = n.defaultSignal
	}
	if n.info.SignalURL == "" {
		return nil, fmt.Errorf("%w: node.signal_url is empty and no listener URL is known", ErrConfig)
	}
	n.info.Region = cfg.Node.Region
	n.info.StartedAt = n.now()
	rdb, err := newClient(cfg.Redis)
	if err != nil {
		return nil, err
	}
	prefix := cfg.Redis.KeyPrefix
	n.store = &store{rdb: rdb, prefix: prefix}
	n.log = n.log.With("node", n.info.ID)
	if cpu, err := metrics.NewCPUSampler(n.now()); err == nil {
		n.cpu, n.cpuAt = cpu, n.now()
	}
	n.up.Store(true) // until the first heartbeat says otherwise
	n.m.RedisUp().Set(1)
	return n, nil
}

func generateID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "node-" + hex.EncodeToString(b[:])
}

// ID is the node's id in the registry.
func (n *Node) ID() string { return n.info.ID }

// SignalURL is the URL this node advertises.
func (n *Node) SignalURL() string { return n.info.SignalURL }

// Start registers the node (one heartbeat, bounded by a short timeout: an
// unreachable Redis is logged and retried, never fatal) and starts the
// heartbeat loop, which runs until Close.
func (n *Node) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.tick(ctx)
	go n.run(ctx)
	n.log.Info("cluster node started", "signal_url", n.info.SignalURL, "region", n.info.Region, "redis", n.cfg.Redis.Addr, "redis_up", n.up.Load())
}

func (n *Node) run(ctx context.Context) {
	defer close(n.done)
	t := time.NewTicker(n.cfg.Node.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.tick(ctx)
		}
	}
}

// Place decides where a join for room goes. It never fails because Redis
// does: without Redis the room is placed here (and claimed once Redis is
// back). region, if not empty, is the client's preferred region.
func (n *Node) Place(ctx context.Context, room, region string) (Placement, error) {
	n.mu.Lock()
	if n.closed || n.draining {
		n.mu.Unlock()
		return Placement{}, ErrDraining
	}
	if h, ok := n.held[room]; ok {
		h.seen = n.now()
		n.mu.Unlock()
		return Placement{Local: true, Node: n.info.ID}, nil
	}
	n.mu.Unlock()
	if !n.up.Load() {
		// Redis was away at the last heartbeat: do not make every join
		// wait for it; the heartbeat loop notices when it is back.
		return n.placeHere(room, metrics.ClaimUnavailable), nil
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	// Each round is a read and one atomic write; a round is lost only to
	// a concurrent placement of the same room, whose result the next
	// round then follows.
	for range 4 {
		p, done, err := n.tryPlace(ctx, room, region)
		if err != nil {
			n.failed(metrics.RedisOpPlace, err)
			return n.placeHere(room, metrics.ClaimUnavailable), nil
		}
		if done {
			return p, nil
		}
	}
	return Placement{}, ErrContention
}

func (n *Node) tryPlace(ctx context.Context, room, region string) (Placement, bool, error) {
	raw, taken, err := n.store.getClaim(ctx, room)
	if err != nil {
		return Placement{}, false, err
	}
	members, err := n.store.members(ctx, false)
	if err != nil {
		return Placement{}, false, err
	}
	cands := n.candidates(members)
	if taken {
		cur, perr := ParseClaim(raw)
		if perr == nil && cur.Node == n.info.ID {
			n.hold(room, cur)
			n.m.Claims(metrics.ClaimExisting).Inc()
			return Placement{Local: true, Node: n.info.ID}, true, nil
		}
		if owner, ok := find(cands, cur.Node); perr == nil && ok && owner.Info.State == StateServing {
			n.m.Claims(metrics.ClaimExisting).Inc()
			return Placement{Node: owner.Info.ID, URL: owner.Info.SignalURL}, true, nil
		}
		// The holder is dead (no registry entry) or draining: place the
		// room anew, replacing exactly the claim we read.
		target := n.choose(cands, region)
		c := Claim{Node: target.Info.ID, Since: n.now().UnixMilli()}
		ok, err := n.store.cas(ctx, room, raw, c, n.cfg.Node.TTL)
		if err != nil || !ok {
			return Placement{}, false, err
		}
		n.m.Claims(metrics.ClaimTakeover).Inc()
		n.log.Info("room re-placed", "room", room, "from", cur.Node, "to", target.Info.ID)
		return n.placed(room, c, target), true, nil
	}
	target := n.choose(cands, region)
	c := Claim{Node: target.Info.ID, Since: n.now().UnixMilli()}
	other, err := n.store.claim(ctx, room, c, n.cfg.Node.TTL)
	if err != nil || other != "" {
		return Placement{}, false, err
	}
	if target.Info.ID == n.info.ID {
		n.m.Claims(metrics.ClaimLocal).Inc()
	} else {
		n.m.Claims(metrics.ClaimAssigned).Inc()
	}
	return n.placed(room, c, target), true, nil
}

// candidates is the registry as read, with this node's own entry replaced by
// what it knows first-hand (or added, before its first heartbeat landed).
func (n *Node) candidates(members []member) []Candidate {
	n.mu.Lock()
	self := n.info
	self.Load = n.load
	self.State = StateServing
	if n.draining {
		self.State = StateDraining
	}
	held := len(n.held)
	n.mu.Unlock()
	out := make([]Candidate, 0, len(members)+1)
	found := false
	for _, m := range members {
		if m.Info.ID == self.ID {
			found = true
			out = append(out, Candidate{Info: self, Claims: max(m.Claims, held)})
			continue
		}
		out = append(out, m.Candidate)
	}
	if !found {
		out = append(out, Candidate{Info: self, Claims: held})
	}
	return out
}

func (n *Node) choose(cands []Candidate, region string) Candidate {
	if c, ok := Choose(cands, region, n.policy); ok {
		return c
	}
	self, _ := find(cands, n.info.ID)
	return self
}

func find(cands []Candidate, id string) (Candidate, bool) {
	for _, c := range cands {
		if c.Info.ID == id {
			return c, true
		}
	}
	return Candidate{}, false
}

func (n *Node) placed(room string, c Claim, target Candidate) Placement {
	if target.Info.ID == n.info.ID {
		n.hold(room, c)
		return Placement{Local: true, Node: n.info.ID}
	}
	return Placement{Node: target.Info.ID, URL: target.Info.SignalURL}
}

func (n *Node) placeHere(room, result string) Placement {
	n.hold(room, Claim{Node: n.info.ID, Since: n.now().UnixMilli()})
	n.m.Claims(result).Inc()
	return Placement{Local: true, Node: n.info.ID}
}

func (n *Node) hold(room string, c Claim) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h, ok := n.held[room]; ok {
		h.seen = n.now()
		return
	}
	n.held[room] = &heldRoom{claim: c, seen: n.now()}
	n.m.Held().Set(float64(len(n.held)))
}

// Release gives up the claim of a room that closed here.
func (n *Node) Release(room string) {
	n.mu.Lock()
	h, ok := n.held[room]
	if ok {
		delete(n.held, room)
		n.m.Held().Set(float64(len(n.held)))
	}
	closed := n.closed
	n.mu.Unlock()
	if !ok || closed || !n.up.Load() {
		return // an unreleased claim expires with its TTL
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := n.store.release(ctx, map[string]Claim{room: h.claim}); err != nil {
		n.failed(metrics.RedisOpRelease, err)
	}
}

// Drain marks the node draining in the registry, so no new room is placed
// here, and frees its rooms' claims, so that their clients, reconnecting
// through the entry URL, get the rooms re-placed on serving nodes.
func (n *Node) Drain() {
	n.mu.Lock()
	if n.draining || n.closed {
		n.mu.Unlock()
		return
	}
	n.draining = true
	held := n.takeHeld()
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*opTimeout)
	defer cancel()
	n.tick(ctx) // publishes the draining state before the claims go
	if n.up.Load() {
		if err := n.store.release(ctx, held); err != nil {
			n.failed(metrics.RedisOpRelease, err)
		}
	}
	n.log.Info("cluster node draining", "rooms_released", len(held))
}

// takeHeld empties the held set and returns its claims; n.mu is held.
func (n *Node) takeHeld() map[string]Claim {
	out := make(map[string]Claim, len(n.held))
	for room, h := range n.held {
		out[room] = h.claim
	}
	n.held = map[string]*heldRoom{}
	n.m.Held().Set(0)
	return out
}

// Close stops the heartbeat, releases every claim and removes the node from
// the registry, so its rooms can be re-placed at once rather than after the
// TTL.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	held := n.takeHeld()
	n.mu.Unlock()
	if n.cancel != nil {
		n.cancel()
		<-n.done
	}
	if n.up.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*opTimeout)
		err := n.store.release(ctx, held)
		if err == nil {
			err = n.store.deregister(ctx, n.info.ID)
		}
		cancel()
		if err != nil {
			n.log.Warn("could not leave the cluster registry; the node's entry and claims expire with their TTL", "err", err)
		}
	}
	return n.store.rdb.Close()
}

// failed counts a Redis error and, the first time in a row, logs it.
func (n *Node) failed(op string, err error) {
	n.m.RedisErrors(op).Inc()
	n.m.RedisUp().Set(0)
	if n.up.Swap(false) {
		n.log.Warn("redis unreachable: keeping the rooms held and placing new rooms on this node until it is back",
			"op", op, "err", err, "retry_every", n.cfg.Node.HeartbeatInterval.String())
	}
}

func (n *Node) recovered(rooms int) {
	n.m.RedisUp().Set(1)
	if !n.up.Swap(true) {
		n.log.Info("redis reachable again: node re-registered and rooms re-claimed", "rooms", rooms)
	}
}
