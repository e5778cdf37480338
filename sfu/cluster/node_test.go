package cluster

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/surgertc/surge/sfu/cluster/redistest"
)

// fakeHost is the server side of a node: the rooms the test opened on it
// and the evictions the node asked for.
type fakeHost struct {
	mu      sync.Mutex
	rooms   map[string]int
	evicted map[string]string // room → url
}

func newFakeHost() *fakeHost { return &fakeHost{rooms: map[string]int{}, evicted: map[string]string{}} }

func (h *fakeHost) Stats() HostStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	var st HostStats
	for name, n := range h.rooms {
		st.Rooms = append(st.Rooms, RoomStat{Name: name, Participants: n})
	}
	return st
}

func (h *fakeHost) Evict(room, url string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.rooms, room)
	h.evicted[room] = url
}

func (h *fakeHost) open(room string) {
	h.mu.Lock()
	h.rooms[room]++
	h.mu.Unlock()
}

func (h *fakeHost) evictedTo(room string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.evicted[room]
}

type testNode struct {
	*Node
	host *fakeHost
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

const (
	testHeartbeat = 100 * time.Millisecond
	testTTL       = 500 * time.Millisecond
)

func startNode(t *testing.T, addr, id string, mutate ...func(*Config)) *testNode {
	t.Helper()
	cfg := Config{Redis: DefaultRedisConfig(), Node: DefaultNodeConfig()}
	cfg.Redis.Addr = addr
	cfg.Node.ID = id
	cfg.Node.HeartbeatInterval, cfg.Node.TTL = testHeartbeat, testTTL
	for _, f := range mutate {
		f(&cfg)
	}
	h := newFakeHost()
	logs := &syncBuffer{}
	n, err := New(cfg, h, WithURLs("ws://"+id+".test/rtc", ""), WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	t.Cleanup(func() { _ = n.Close() })
	return &testNode{Node: n, host: h, logs: logs}
}

// place places room through n and, when it lands on n, opens it there as
// the server would.
func (n *testNode) place(t *testing.T, room string) Placement {
	t.Helper()
	p, err := n.Place(context.Background(), room, "")
	if err != nil {
		t.Fatalf("%s: Place(%s): %v", n.ID(), room, err)
	}
	if p.Local {
		n.host.open(room)
	}
	return p
}

func owner(n *testNode, p Placement) string {
	if p.Local {
		return n.ID()
	}
	return p.Node
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops a node's heartbeat without releasing anything, as kill -9 does.
func (n *testNode) kill() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	<-n.done
}

func TestPlacementSpreadsRoomsAndRedirects(t *testing.T) {
	// Registered first, so it runs after every other cleanup: the nodes'
	// heartbeat loops and Redis connections must be gone by then.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	r := redistest.Start(t)
	a, b, c := startNode(t, r.Addr, "a"), startNode(t, r.Addr, "b"), startNode(t, r.Addr, "c")
	nodes := map[string]*testNode{"a": a, "b": b, "c": c}
	perNode := map[string]int{}
	for i := range 6 {
		room := fmt.Sprintf("room-%d", i)
		p := a.place(t, room)
		who := owner(a, p)
		perNode[who]++
		if !p.Local {
			if p.URL != "ws://"+who+".test/rtc" {
				t.Fatalf("%s redirected to %q, want %s's URL", room, p.URL, who)
			}
			// The redirected join lands on its node, which now holds it.
			if q := nodes[who].place(t, room); !q.Local {
				t.Fatalf("%s placed on %s, but %s redirects it to %s", room, who, who, q.URL)
			}
		}
		// Any node sends a later join of the room to the same place.
		if q := c.place(t, room); owner(c, q) != who {
			t.Fatalf("%s: c says %s, a said %s", room, owner(c, q), who)
		}
	}
	if perNode["a"] != 2 || perNode["b"] != 2 || perNode["c"] != 2 {
		t.Fatalf("6 rooms placed %v, want 2 per node", perNode)
	}
	views, err := a.Registry().Nodes(context.Background())
	if err != nil || len(views) != 3 {
		t.Fatalf("registry: %v, %v", views, err)
	}
	for _, v := range views {
		if len(v.Rooms) != 2 || v.State != StateServing {
			t.Errorf("node %s: %+v", v.ID, v)
		}
	}
	if o, ok, err := c.Registry().Owner(context.Background(), "room-0"); err != nil || !ok || o.ID != owner(a, a.place(t, "room-0")) {
		t.Errorf("Owner(room-0) = %+v %v %v", o, ok, err)
	}
}

// Joins of one new room racing on two nodes must agree on one node.
func TestConcurrentPlacementsAgree(t *testing.T) {
	r := redistest.Start(t)
	a, b := startNode(t, r.Addr, "a"), startNode(t, r.Addr, "b")
	for i := range 30 {
		room := fmt.Sprintf("race-%d", i)
		var pa, pb Placement
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); pa, _ = a.Place(context.Background(), room, "") }()
		go func() { defer wg.Done(); pb, _ = b.Place(context.Background(), room, "") }()
		wg.Wait()
		if oa, ob := owner(a, pa), owner(b, pb); oa != ob || oa == "" {
			t.Fatalf("%s: a says %q, b says %q", room, oa, ob)
		}
	}
}

func TestDeadNodesRoomsArePlacedAgain(t *testing.T) {
	r := redistest.Start(t)
	a, b := startNode(t, r.Addr, "a"), startNode(t, r.Addr, "b")
	// Fill a with participants so that the room goes to b.
	a.host.open("busy")
	a.host.mu.Lock()
	a.host.rooms["busy"] = 10
	a.host.mu.Unlock()
	time.Sleep(2 * testHeartbeat)
	p := a.place(t, "r")
	if owner(a, p) != "b" {
		t.Fatalf("placed on %s, want b (a has 10 participants)", owner(a, p))
	}
	b.place(t, "r")
	b.kill()
	if q := a.place(t, "r"); owner(a, q) != "b" {
		t.Fatalf("right after b died the claim still names b, got %s", owner(a, q))
	}
	waitFor(t, testTTL+5*testHeartbeat, "b's claim to expire and r to be re-placed on a", func() bool {
		return a.place(t, "r").Local
	})
}

func TestDrainingNodeIsNotChosenAndFreesItsRooms(t *testing.T) {
	r := redistest.Start(t)
	a, b := startNode(t, r.Addr, "a"), startNode(t, r.Addr, "b")
	if p := b.place(t, "r"); !p.Local {
		// b's own first placement: b and a are equal, a has the smaller id.
		if p.Node != "a" {
			t.Fatalf("placed on %s", p.Node)
		}
	}
	// Put a room on b explicitly, then drain b.
	b.host.open("mine")
	b.hold("mine", Claim{Node: "b", Since: time.Now().UnixMilli()})
	b.tick(context.Background())
	if p := a.place(t, "mine"); p.Local || p.Node != "b" {
		t.Fatalf("before drain, mine is on %+v", p)
	}
	b.Drain()
	if _, err := b.Place(context.Background(), "other", ""); err != ErrDraining {
		t.Fatalf("draining node placed a room: %v", err)
	}
	if p := a.place(t, "mine"); !p.Local {
		t.Fatalf("after b drained, mine went to %+v, want a", p)
	}
	for i := range 5 {
		if p := a.place(t, fmt.Sprintf("new-%d", i)); !p.Local {
			t.Fatalf("a draining node was chosen: %+v", p)
		}
	}
}

// Redis away: nodes keep placing (locally), log once, and when Redis is back
// they re-register and settle a room both placed: the older claim keeps it,
// the other node's clients are sent to it.
func TestRedisOutageAndConflict(t *testing.T) {
	r := redistest.Start(t)
	a, b := startNode(t, r.Addr, "a"), startNode(t, r.Addr, "b")
	if p := a.place(t, "shared"); !p.Local {
		t.Fatalf("shared placed on %s, want a (smaller id)", p.Node)
	}
	r.Stop()
	waitFor(t, 10*testHeartbeat, "both nodes to see Redis down", func() bool { return !a.up.Load() && !b.up.Load() })
	start := time.Now()
	if p := b.place(t, "shared"); !p.Local {
		t.Fatalf("without Redis b must place locally, got %+v", p)
	}
	if p := b.place(t, "only-b"); !p.Local {
		t.Fatalf("without Redis b must place locally, got %+v", p)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("placing without Redis took %v: joins must not wait on a dead Redis", took)
	}
	time.Sleep(10 * testHeartbeat) // many failed heartbeats
	for _, n := range []*testNode{a, b} {
		if got := n.logs.count("redis unreachable"); got != 1 {
			t.Errorf("%s logged the outage %d times, want once", n.ID(), got)
		}
	}
	r.Restart()
	waitFor(t, 20*testHeartbeat, "b to give shared up to a", func() bool { return b.host.evictedTo("shared") != "" })
	if got := b.host.evictedTo("shared"); got != "ws://a.test/rtc" {
		t.Fatalf("b sent shared's clients to %q, want a's URL", got)
	}
	waitFor(t, 10*testHeartbeat, "both nodes back in the registry with their rooms", func() bool {
		views, err := a.Registry().Nodes(context.Background())
		if err != nil || len(views) != 2 {
			return false
		}
		return fmt.Sprint(views[0].Rooms) == "[shared]" && fmt.Sprint(views[1].Rooms) == "[only-b]"
	})
	if a.host.evictedTo("shared") != "" {
		t.Fatal("the older claim's node lost the room too")
	}
	if got := a.logs.count("redis reachable again"); got != 1 {
		t.Errorf("a logged the recovery %d times, want once", got)
	}
}

func TestReleaseFreesTheRoom(t *testing.T) {
	r := redistest.Start(t)
	a := startNode(t, r.Addr, "a")
	a.place(t, "r")
	views, _ := a.Registry().Nodes(context.Background())
	if len(views) != 1 || len(views[0].Rooms) != 1 {
		t.Fatalf("registry %+v", views)
	}
	a.host.mu.Lock()
	delete(a.host.rooms, "r")
	a.host.mu.Unlock()
	a.Release("r")
	if _, ok, err := a.Registry().Owner(context.Background(), "r"); ok || err != nil {
		t.Fatalf("released room still owned (%v, %v)", ok, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistry(RedisConfig{Addr: r.Addr, KeyPrefix: "surge:"})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if views, err := reg.Nodes(context.Background()); err != nil || len(views) != 0 {
		t.Fatalf("a closed node stays registered: %+v %v", views, err)
	}
}
