package sfu

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/cluster"
	"github.com/surgertc/surge/sfu/cluster/redistest"
	"github.com/surgertc/surge/sfu/roomapi"
	"github.com/surgertc/surge/sfu/signal"
)

// clusterNode runs a node of the cluster at redisAddr.
func clusterNode(t *testing.T, redisAddr, id string) *Server {
	t.Helper()
	return startServer(t, func(c *Config) {
		c.Redis.Addr = redisAddr
		c.Node.ID, c.Node.HeartbeatInterval, c.Node.TTL = id, 200*time.Millisecond, 2*time.Second
	}, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
}

// ghostHost is a cluster member that holds one room and serves nothing.
type ghostHost struct{ room string }

func (g ghostHost) Stats() cluster.HostStats {
	return cluster.HostStats{Rooms: []cluster.RoomStat{{Name: g.room, Participants: 1}}}
}
func (ghostHost) Evict(string, string) {}

// deadURL is a loopback signaling URL nobody listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "ws://" + addr + "/rtc"
}

// TestRoomAPIAnswersForEveryNode drives the room API of one node (front)
// for a room that lives on another (owner): the operator lists it, lists
// its participants, mutes a track, removes a participant and closes the
// room without knowing where it is. A room whose node is registered but
// unreachable answers unavailable, and a forwarded call is answered from
// the node's own rooms only, never forwarded again.
func TestRoomAPIAnswersForEveryNode(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) }) // runs last, after the nodes close
	r := redistest.Start(t)
	ctx := context.Background()
	const room = "standup"

	// The room opens on owner while it is the only node, so placement
	// cannot send it elsewhere.
	owner := clusterNode(t, r.Addr, "owner")
	alice := join(t, owner, room, "alice")
	bob := join(t, owner, room, "bob")
	audio, _, _ := alice.publish()
	ap := startPump(audio, 20*time.Millisecond, 80, 960)
	defer ap.halt()
	front := clusterNode(t, r.Addr, "front")

	noKeepAlive := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	admin := apiClient(t, front, auth.Grant{Admin: true})
	admin.HTTP = noKeepAlive

	rooms, err := admin.ListRooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms) != 1 || rooms[0].Name != room || rooms[0].Node != "owner" || rooms[0].Participants != 2 || rooms[0].CreatedAt.IsZero() || rooms[0].Unreachable {
		t.Fatalf("front's ListRooms = %+v, want %q on node owner with 2 participants", rooms, room)
	}
	var ps []roomapi.Participant
	eventually(t, 10*time.Second, "alice's audio listed through front", func() bool {
		ps, err = admin.ListParticipants(ctx, room)
		return err == nil && len(ps) == 2 && len(ps[0].Tracks) == 1
	})
	if ps[0].Identity != "alice" || ps[0].ID != alice.id || ps[1].Identity != "bob" {
		t.Fatalf("front's ListParticipants = %+v, want alice and bob", ps)
	}
	tr, err := admin.MuteTrack(ctx, room, "alice", ps[0].Tracks[0].ID, true)
	if err != nil || !tr.Muted || tr.ID != ps[0].Tracks[0].ID {
		t.Fatalf("front's MuteTrack = %+v, %v", tr, err)
	}
	if ev := bob.waitFor(signal.TypeTrackMuted, 5*time.Second); ev.Track == nil || !ev.Track.Muted {
		t.Fatalf("bob got %+v, want track_muted", ev)
	}

	// The owner's typed errors come back unchanged.
	if err := admin.RemoveParticipant(ctx, room, "mallory"); !errors.Is(err, roomapi.ErrParticipantNotFound) {
		t.Fatalf("removing an unknown participant through front: %v, want participant_not_found", err)
	}
	if err := admin.CloseRoom(ctx, "nowhere"); !errors.Is(err, roomapi.ErrRoomNotFound) {
		t.Fatalf("closing a room no node has: %v, want room_not_found", err)
	}
	// A grant for another room reaches nothing, wherever the room is.
	other := apiClient(t, front, auth.Grant{Room: "other", Admin: true})
	other.HTTP = noKeepAlive
	if err := other.CloseRoom(ctx, room); !errors.Is(err, roomapi.ErrForbidden) {
		t.Fatalf("admin of another room closing %q through front: %v, want forbidden", room, err)
	}

	// A forwarded call is answered from front's own rooms, never sent on.
	fwd := *admin
	fwd.ForwardedBy = "owner"
	if rs, err := fwd.ListRooms(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("forwarded ListRooms on front = %+v, %v; want front's own rooms (none)", rs, err)
	}
	if err := fwd.RemoveParticipant(ctx, room, "bob"); !errors.Is(err, roomapi.ErrRoomNotFound) {
		t.Fatalf("forwarded RemoveParticipant on front: %v, want room_not_found (answered locally)", err)
	}
	if ps, err := admin.ListParticipants(ctx, room); err != nil || len(ps) != 2 {
		t.Fatalf("a forwarded call was forwarded again: participants now %+v, %v", ps, err)
	}

	removeAndWait(t, admin, room, bob, "bob")
	if ps, err := admin.ListParticipants(ctx, room); err != nil || len(ps) != 1 {
		t.Fatalf("after remove: %+v, %v; want alice only", ps, err)
	}
	if err := admin.CloseRoom(ctx, room); err != nil {
		t.Fatal(err)
	}
	if ev := alice.waitFor(signal.TypeLeave, 5*time.Second); ev.Code != signal.CodeRoomClosed {
		t.Fatalf("alice got leave %+v, want code room_closed", ev)
	}
	alice.waitClosed(5 * time.Second)
	if rs, err := admin.ListRooms(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("after close: %+v, %v; want no rooms", rs, err)
	}

	// A node that is registered (within its TTL, as after a crash) but does
	// not answer: its room is listed from the registry, calls fail unavailable.
	cfg := cluster.Config{Redis: cluster.DefaultRedisConfig(), Node: cluster.DefaultNodeConfig()}
	cfg.Redis.Addr, cfg.Node.ID = r.Addr, "ghost"
	ghost, err := cluster.New(cfg, ghostHost{room: "haunted"}, cluster.WithURLs(deadURL(t), ""), cluster.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ghost.Start()
	t.Cleanup(func() { _ = ghost.Close() })
	eventually(t, 5*time.Second, "ghost's room in the registry", func() bool {
		_, ok, _ := front.ClusterRegistry().Owner(ctx, "haunted")
		return ok
	})
	if _, err := admin.ListParticipants(ctx, "haunted"); !errors.Is(err, roomapi.ErrUnavailable) {
		t.Fatalf("participants of a room on an unreachable node: %v, want unavailable", err)
	}
	if err := admin.CloseRoom(ctx, "haunted"); !errors.Is(err, roomapi.ErrUnavailable) {
		t.Fatalf("closing a room on an unreachable node: %v, want unavailable", err)
	}
	rooms, err = admin.ListRooms(ctx)
	if err != nil || len(rooms) != 1 || rooms[0].Name != "haunted" || rooms[0].Node != "ghost" || !rooms[0].Unreachable {
		t.Fatalf("ListRooms with an unreachable node = %+v, %v; want haunted on ghost, unreachable", rooms, err)
	}
	// The HTTP shape: 503 with the typed body.
	base, _ := roomapi.HTTPBase(front.URL())
	if status, _, e := rawAPI(t, noKeepAlive, http.MethodGet, base+"/api/v1/rooms/haunted/participants", admin.Token); status != http.StatusServiceUnavailable || e.Code != roomapi.CodeUnavailable {
		t.Fatalf("HTTP %d %+v, want 503 unavailable", status, e)
	}
}
