package cluster

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/surgertc/surge/sfu/roomapi"
)

// oneLocalRoom is a node's own service holding room "here".
type oneLocalRoom struct{ roomapi.RoomService }

func (oneLocalRoom) CloseRoom(_ context.Context, room string) error {
	if room == "here" {
		return nil
	}
	return roomapi.Errorf(roomapi.CodeRoomNotFound, "no room %q on this node", room)
}

// fixedDirectory answers Owner from a map; err fails every read.
type fixedDirectory struct {
	owners map[string]NodeInfo
	err    error
	asked  int
}

func (d *fixedDirectory) Nodes(context.Context) ([]NodeView, error) { return nil, d.err }

func (d *fixedDirectory) Owner(_ context.Context, room string) (NodeInfo, bool, error) {
	d.asked++
	n, ok := d.owners[room]
	return n, ok, d.err
}

// TestRoomServiceRouting covers the decisions that need no second node:
// what stays local, what is not found, what is unavailable, and that a
// forwarded call never consults the registry.
func TestRoomServiceRouting(t *testing.T) {
	fwd := roomapi.WithCall(context.Background(), roomapi.Call{ForwardedBy: "b"})
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		room   string
		dir    fixedDirectory
		want   *roomapi.Error // nil: success
		lookup bool           // the registry was asked
	}{
		{"local room", context.Background(), "here", fixedDirectory{}, nil, false},
		{"claimed by nobody", context.Background(), "x", fixedDirectory{}, roomapi.ErrRoomNotFound, true},
		{"claimed by this node, gone", context.Background(), "x", fixedDirectory{owners: map[string]NodeInfo{"x": {ID: "a", SignalURL: "ws://127.0.0.1:1/rtc"}}}, roomapi.ErrRoomNotFound, true},
		{"owner advertises no URL", context.Background(), "x", fixedDirectory{owners: map[string]NodeInfo{"x": {ID: "b"}}}, roomapi.ErrUnavailable, true},
		{"registry unreadable", context.Background(), "x", fixedDirectory{err: errors.New("redis down")}, roomapi.ErrUnavailable, true},
		{"forwarded: answered locally", fwd, "x", fixedDirectory{owners: map[string]NodeInfo{"x": {ID: "b", SignalURL: "ws://127.0.0.1:1/rtc"}}}, roomapi.ErrRoomNotFound, false},
		{"forwarded: local room", fwd, "here", fixedDirectory{}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRoomService(oneLocalRoom{}, &tc.dir, DefaultRoomServiceConfig("a"), slog.New(slog.NewTextHandler(io.Discard, nil)))
			err := s.CloseRoom(tc.ctx, tc.room)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("CloseRoom(%q) = %v, want %v", tc.room, err, tc.want)
			}
			if got := tc.dir.asked > 0; got != tc.lookup {
				t.Fatalf("registry asked: %v, want %v", got, tc.lookup)
			}
		})
	}
}

func TestMergeRoomsListsEachRoomOnce(t *testing.T) {
	own := []roomapi.Room{{Name: "m", Node: "a", Participants: 2}}
	b := []roomapi.Room{{Name: "z", Node: "b"}, {Name: "m", Node: "b"}}
	c := []roomapi.Room{{Name: "c", Node: "c"}, {Name: "z", Node: "c"}}
	got := mergeRooms(own, b, c)
	want := []roomapi.Room{{Name: "c", Node: "c"}, {Name: "m", Node: "a", Participants: 2}, {Name: "z", Node: "b"}}
	if len(got) != len(want) {
		t.Fatalf("mergeRooms = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("mergeRooms = %+v, want %+v", got, want)
		}
	}
}
