package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/surgertc/surge/sfu"
	"github.com/surgertc/surge/sfu/cluster"
	"github.com/surgertc/surge/sfu/cluster/redistest"
)

// oneRoom is a cluster host with one open room.
type oneRoom struct{}

func (oneRoom) Stats() cluster.HostStats {
	return cluster.HostStats{Rooms: []cluster.RoomStat{{Name: "demo", Participants: 3}}}
}
func (oneRoom) Evict(string, string) {}

func TestClusterCommandShowsNodesAndRooms(t *testing.T) {
	r := redistest.Start(t)
	cfg := cluster.Config{Redis: cluster.DefaultRedisConfig(), Node: cluster.DefaultNodeConfig()}
	cfg.Redis.Addr, cfg.Node.ID, cfg.Node.Region = r.Addr, "sfu-a", "eu"
	n, err := cluster.New(cfg, oneRoom{}, cluster.WithURLs("ws://127.0.0.1:1/rtc", ""), cluster.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	n.Start() // the first heartbeat registers the node and claims its open room
	defer n.Close()

	var out bytes.Buffer
	root := newRootCmd(&out, &out)
	root.SetArgs([]string{"cluster", "--redis.addr", r.Addr})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sfu-a", "serving", "eu", "ws://127.0.0.1:1/rtc", "sfu-a rooms: demo"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	root = newRootCmd(&out, &out)
	root.SetArgs([]string{"cluster", "--redis.addr", r.Addr, "--json"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	var nodes []cluster.NodeView
	if err := json.Unmarshal(out.Bytes(), &nodes); err != nil {
		t.Fatalf("--json: %v\n%s", err, out.String())
	}
	if len(nodes) != 1 || nodes[0].ID != "sfu-a" || len(nodes[0].Rooms) != 1 || nodes[0].Load.Participants != 3 {
		t.Fatalf("--json: %+v", nodes)
	}
	if time.Since(nodes[0].UpdatedAt) > time.Minute {
		t.Errorf("updated_at %v", nodes[0].UpdatedAt)
	}
}

func TestClusterCommandNeedsRedis(t *testing.T) {
	var out bytes.Buffer
	root := newRootCmd(&out, &out)
	root.SetArgs([]string{"cluster"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "redis.addr") {
		t.Fatalf("err = %v, want one naming redis.addr", err)
	}
}

// TestRoomsListShowsEveryNode: in a cluster surge rooms list, sent to one
// node, shows every node's rooms with their node, and marks those of a node
// that is registered but does not answer.
func TestRoomsListShowsEveryNode(t *testing.T) {
	r := redistest.Start(t)
	srv := startSFU(t, func(c *sfu.Config) {
		c.Redis.Addr, c.Node.ID = r.Addr, "sfu-live"
		c.Node.HeartbeatInterval, c.Node.TTL = 200*time.Millisecond, 2*time.Second
	})
	joinWS(t, srv.URL(), "standup", "alice") // placed here: the only node yet
	cfg := cluster.Config{Redis: cluster.DefaultRedisConfig(), Node: cluster.DefaultNodeConfig()}
	cfg.Redis.Addr, cfg.Node.ID = r.Addr, "sfu-ghost"
	n, err := cluster.New(cfg, oneRoom{}, cluster.WithURLs("ws://127.0.0.1:1/rtc", ""), cluster.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	defer n.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok, _ := srv.ClusterRegistry().Owner(context.Background(), "demo"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ghost node's room never reached the registry")
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := runSurge(t, "rooms", "list", "--url", srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "NODE") ||
		!strings.HasPrefix(lines[1], "demo") || !strings.HasSuffix(lines[1], "sfu-ghost (unreachable)") ||
		!strings.HasPrefix(lines[2], "standup") || !strings.HasSuffix(lines[2], "sfu-live") {
		t.Fatalf("rooms list in a cluster:\n%s", out)
	}
}
