package cluster_test

// End-to-end: real redis-server, Surge nodes (in-process, or separate
// processes where a node must die), loadbot bots over loopback.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/surgertc/surge/loadbot"
	"github.com/surgertc/surge/loadbot/report"
	"github.com/surgertc/surge/sfu/cluster"
	"github.com/surgertc/surge/sfu/cluster/redistest"
)

// roomURL is the one node URL all of a room's bots ended on.
func roomURL(t *testing.T, room report.Room) string {
	t.Helper()
	url := ""
	for _, b := range room.Bots {
		if url != "" && b.SignalURL != url {
			t.Fatalf("room %s is split: bots on %s and %s", room.Name, url, b.SignalURL)
		}
		url = b.SignalURL
	}
	return url
}

func logSummary(t *testing.T, res *loadbot.Result) {
	t.Helper()
	s := res.Report.Summary
	t.Logf("bots %d/%d, redirects %d, reconnects %d (%d bots), media gap p50 %.0f ms p99 %.0f ms max %.0f ms, lost %d, latency p50 %.1f p99 %.1f ms, loss %.2f %%, dropped %v",
		s.Bots.Connected, s.Bots.Target, s.Redirects, s.Reconnects, s.ReconnectedBots,
		s.MediaGapMs.P50, s.MediaGapMs.P99, s.MediaGapMs.Max, s.MediaLostBots, s.LatencyMs.P50, s.LatencyMs.P99, s.LossPct, res.Dropped)
}

// Three nodes, six rooms through node 1's URL: the rooms spread over all
// three, every redirect is followed, every bot receives media.
func TestRoomsSpreadOverNodes(t *testing.T) {
	r := redistest.Start(t)
	n1 := startNode(t, r.Addr, "n1", 250*time.Millisecond, 1500*time.Millisecond)
	n2 := startNode(t, r.Addr, "n2", 250*time.Millisecond, 1500*time.Millisecond)
	n3 := startNode(t, r.Addr, "n3", 250*time.Millisecond, 1500*time.Millisecond)
	res := runLoad(t, loadConfig(n1.url, 6, 2, 5*time.Second))()
	logSummary(t, res)
	sum := res.Report.Summary
	if sum.Bots.Connected != 18 || sum.Bots.Failed != 0 {
		t.Fatalf("bots %+v, failures %v", sum.Bots, sum.JoinFailures)
	}
	perNode := map[string][]string{}
	redirected := 0
	for _, room := range res.Report.Rooms {
		url := roomURL(t, room)
		perNode[url] = append(perNode[url], room.Name)
		for _, b := range room.Bots {
			want := 1
			if url == n1.url {
				want = 0
			}
			if b.Redirects != want {
				t.Errorf("%s on %s followed %d redirects, want %d", b.ID, url, b.Redirects, want)
			}
			redirected += b.Redirects
			if b.Role == "subscriber" && b.Frames == 0 {
				t.Errorf("%s received no media", b.ID)
			}
		}
	}
	if sum.Redirects != redirected || redirected == 0 {
		t.Errorf("summary redirects %d, bots followed %d", sum.Redirects, redirected)
	}
	for _, n := range []*node{n1, n2, n3} {
		var local []string
		for _, rs := range n.srv.Snapshot() {
			local = append(local, rs.Name)
		}
		slices.Sort(local)
		got := perNode[n.url]
		slices.Sort(got)
		if len(got) == 0 {
			t.Errorf("node %s got no room: placement %v", n.id, perNode)
		}
		if !slices.Equal(local, got) {
			t.Errorf("node %s holds %v, its bots say %v", n.id, local, got)
		}
	}
	t.Logf("placement spread: n1 %d, n2 %d, n3 %d rooms", len(perNode[n1.url]), len(perNode[n2.url]), len(perNode[n3.url]))
}

// Two joins of a new room racing on two nodes end in one room on one node.
func TestRacingJoinsEndInOneRoom(t *testing.T) {
	r := redistest.Start(t)
	a := startNode(t, r.Addr, "a", 250*time.Millisecond, 1500*time.Millisecond)
	b := startNode(t, r.Addr, "b", 250*time.Millisecond, 1500*time.Millisecond)
	for i := range 10 {
		room := fmt.Sprintf("race-%d", i)
		var ua, ub string
		var ea, eb error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); ua, ea = joinFollowing(t, a.url, room, "via-a") }()
		go func() { defer wg.Done(); ub, eb = joinFollowing(t, b.url, room, "via-b") }()
		wg.Wait()
		if ea != nil || eb != nil {
			t.Fatalf("%s: joins failed: %v, %v", room, ea, eb)
		}
		if ua != ub {
			t.Fatalf("%s: one join landed on %s, the other on %s", room, ua, ub)
		}
		holders := 0
		for _, n := range []*node{a, b} {
			for _, rs := range n.srv.Snapshot() {
				if rs.Name == room {
					holders++
					if len(rs.Participants) != 2 {
						t.Fatalf("%s on %s has %d participants, want 2", room, n.id, len(rs.Participants))
					}
				}
			}
		}
		if holders != 1 {
			t.Fatalf("%s is open on %d nodes", room, holders)
		}
	}
}

// kill -9 of a node (its own process): its bots are back with media within
// TTL + 5 s, re-placed on the survivors; no bot elsewhere notices.
func TestKilledNodesBotsReconnect(t *testing.T) {
	r := redistest.Start(t)
	const ttl = 3 * time.Second
	flags := []string{"--node.heartbeat_interval=500ms", "--node.ttl=3s"}
	n1 := startProcess(t, r.Addr, "n1", flags...)
	n2 := startProcess(t, r.Addr, "n2", flags...)
	n3 := startProcess(t, r.Addr, "n3", flags...)
	reg := registry(t, r.Addr)
	wait := runLoad(t, loadConfig(n1.url, 6, 2, 16*time.Second))
	placed := waitPlaced(t, reg, 6)
	time.Sleep(2 * time.Second) // media flowing everywhere
	victim := n2
	if len(placed[n3.id]) > len(placed[n2.id]) {
		victim = n3
	}
	victimRooms := placed[victim.id]
	if len(victimRooms) == 0 {
		t.Fatalf("no room on n2 or n3: %v", placed)
	}
	victim.signal(t, syscall.SIGKILL)
	res := wait()
	logSummary(t, res)
	checkMoved(t, res, victim, victimRooms, ttl+5*time.Second)
	after := roomsByNode(t, reg)
	if _, ok := after[victim.id]; ok {
		t.Errorf("killed node %s still in the registry", victim.id)
	}
	t.Logf("placement before kill %v, after %v; killed %s", placed, after, victim.id)
}

// SIGTERM of a node: it drains within drain_timeout and its rooms continue
// on the others.
func TestDrainedNodesRoomsMove(t *testing.T) {
	r := redistest.Start(t)
	const drain = 5 * time.Second
	flags := []string{"--node.heartbeat_interval=500ms", "--node.ttl=3s", "--drain_timeout=5s"}
	n1 := startProcess(t, r.Addr, "n1", flags...)
	n2 := startProcess(t, r.Addr, "n2", flags...)
	n3 := startProcess(t, r.Addr, "n3", flags...)
	reg := registry(t, r.Addr)
	wait := runLoad(t, loadConfig(n1.url, 6, 2, 12*time.Second))
	placed := waitPlaced(t, reg, 6)
	time.Sleep(2 * time.Second)
	victim := n2
	if len(placed[n3.id]) > len(placed[n2.id]) {
		victim = n3
	}
	victimRooms := placed[victim.id]
	start := time.Now()
	victim.signal(t, syscall.SIGTERM)
	select {
	case <-victim.exited:
		t.Logf("%s drained and exited in %v (drain_timeout %v)", victim.id, time.Since(start).Round(time.Millisecond), drain)
	case <-time.After(drain + 2*time.Second):
		t.Fatalf("%s still running %v after SIGTERM", victim.id, drain+2*time.Second)
	}
	if victim.err != nil {
		t.Errorf("%s exited with %v", victim.id, victim.err)
	}
	res := wait()
	logSummary(t, res)
	checkMoved(t, res, victim, victimRooms, drain)
}

// waitPlaced waits until rooms rooms are claimed and returns the placement.
func waitPlaced(t *testing.T, reg *cluster.Registry, rooms int) map[string][]string {
	t.Helper()
	var placed map[string][]string
	waitFor(t, 20*time.Second, fmt.Sprintf("%d rooms placed", rooms), func() string {
		nodes, err := reg.Nodes(context.Background())
		if err != nil {
			return err.Error()
		}
		placed = map[string][]string{}
		n := 0
		for _, v := range nodes {
			placed[v.ID] = v.Rooms
			n += len(v.Rooms)
		}
		if n < rooms {
			return fmt.Sprintf("placement %v", placed)
		}
		return ""
	})
	return placed
}

// checkMoved: the bots of the victim's rooms reconnected elsewhere with
// media back within bound; every other bot kept its session and media.
func checkMoved(t *testing.T, res *loadbot.Result, victim *node, victimRooms []string, bound time.Duration) {
	t.Helper()
	if f := res.Report.Summary.Bots.Failed; f != 0 {
		t.Fatalf("%d bots failed their first join: %v", f, res.Report.Summary.JoinFailures)
	}
	for _, room := range res.Report.Rooms {
		moved := slices.Contains(victimRooms, room.Name)
		for _, b := range room.Bots {
			switch {
			case moved && (b.Reconnects < 1 || b.MediaLost || b.SignalURL == victim.url):
				t.Errorf("%s (room %s on %s): reconnects %d, media lost %v, now on %s", b.ID, room.Name, victim.id, b.Reconnects, b.MediaLost, b.SignalURL)
			case moved && b.MediaGapMs > float64(bound.Milliseconds()):
				t.Errorf("%s: media back after %.0f ms, bound %v", b.ID, b.MediaGapMs, bound)
			case !moved && (b.Reconnects != 0 || b.MediaGapMs != 0):
				t.Errorf("%s on a surviving node noticed: reconnects %d, gap %.0f ms", b.ID, b.Reconnects, b.MediaGapMs)
			case !moved && b.Role == "subscriber" && (b.Frames == 0 || b.LossPct > 1):
				t.Errorf("%s on a surviving node: frames %d, loss %.2f %%", b.ID, b.Frames, b.LossPct)
			}
			if !moved && b.Role == "subscriber" {
				t.Logf("survivor %s: latency p50 %.1f p99 %.1f ms, loss %.2f %%, freezes %d", b.ID, b.LatencyMs.P50, b.LatencyMs.P99, b.LossPct, b.Freezes.Count)
			}
		}
	}
}

// Redis stopped for 10 s mid-run and restarted (empty): no bot loses
// media, a room joined meanwhile is placed locally, and the nodes
// re-register and re-claim their rooms.
func TestRedisOutageMidRun(t *testing.T) {
	r := redistest.Start(t)
	n1 := startNode(t, r.Addr, "n1", 250*time.Millisecond, 1500*time.Millisecond)
	startNode(t, r.Addr, "n2", 250*time.Millisecond, 1500*time.Millisecond)
	startNode(t, r.Addr, "n3", 250*time.Millisecond, 1500*time.Millisecond)
	reg := registry(t, r.Addr)
	wait := runLoad(t, loadConfig(n1.url, 6, 1, 20*time.Second))
	before := waitPlaced(t, reg, 6)
	time.Sleep(2 * time.Second)
	r.Stop()
	time.Sleep(time.Second)
	if url, err := joinFollowing(t, n1.url, "during-outage", "late"); err != nil || url != n1.url {
		t.Errorf("a join during the outage: %q, %v; want it placed on the entry node", url, err)
	}
	time.Sleep(9 * time.Second)
	r.Restart()
	var after map[string][]string
	waitFor(t, 5*time.Second, "the nodes to re-register and re-claim", func() string {
		after = roomsByNode(t, reg)
		n := 0
		for _, rooms := range after {
			n += len(rooms)
		}
		if len(after) != 3 || n != 7 {
			return fmt.Sprintf("registry %v", after)
		}
		return ""
	})
	res := wait()
	logSummary(t, res)
	if s := res.Report.Summary; s.Reconnects != 0 || len(res.Dropped) != 0 || s.Bots.Failed != 0 {
		t.Errorf("bots noticed the outage: reconnects %d, dropped %v, failed %d", s.Reconnects, res.Dropped, s.Bots.Failed)
	}
	for _, room := range res.Report.Rooms {
		for _, b := range room.Bots {
			if b.Role == "subscriber" && (b.Frames == 0 || b.LossPct > 1 || b.Freezes.TotalS > 2) {
				t.Errorf("%s: frames %d, loss %.2f %%, frozen %.1f s", b.ID, b.Frames, b.LossPct, b.Freezes.TotalS)
			}
		}
	}
	for id, rooms := range before {
		if !slices.Equal(rooms, after[id]) && !(id == "n1" && slices.Contains(after[id], "during-outage")) {
			t.Errorf("node %s held %v before the outage, %v after", id, rooms, after[id])
		}
	}
	metrics := scrape(t, n1.admin)
	for _, want := range []string{`surge_cluster_redis_up 1`, `surge_cluster_nodes 3`, `surge_room_claims_total{result="unavailable"} 1`} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("n1 /metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, `surge_cluster_redis_errors_total{op="heartbeat"} 0`+"\n") {
		t.Error("n1 counted no heartbeat errors during the outage")
	}
}

func scrape(t *testing.T, admin string) string {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
