package cluster

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/surgertc/surge/sfu/roomapi"
)

// RoomServiceConfig tunes the cluster's room API.
type RoomServiceConfig struct {
	// Self is this node's id: its rooms are served locally.
	Self string
	// Timeout bounds one call forwarded to another node.
	Timeout time.Duration
	// MaxResponse bounds the body read from another node.
	MaxResponse int64
}

// DefaultRoomServiceConfig forwards with a 5 s timeout and reads at most
// 4 MiB back (a participants list of a few thousand members).
func DefaultRoomServiceConfig(self string) RoomServiceConfig {
	return RoomServiceConfig{Self: self, Timeout: 5 * time.Second, MaxResponse: 4 << 20}
}

// roomDirectory is what RoomService reads of the registry (*Registry).
type roomDirectory interface {
	Nodes(ctx context.Context) ([]NodeView, error)
	Owner(ctx context.Context, room string) (NodeInfo, bool, error)
}

// RoomService is the room API of a whole cluster, in front of one node's
// own service: it lists every live node's rooms and sends a call for a
// room held elsewhere to that node's public listener, with the caller's
// token, answering with that node's result or error unchanged.
type RoomService struct {
	local roomapi.RoomService
	dir   roomDirectory
	cfg   RoomServiceConfig
	hc    *http.Client
	log   *slog.Logger
}

var _ roomapi.RoomService = (*RoomService)(nil)

// NewRoomService fronts local with the cluster reg describes.
func NewRoomService(local roomapi.RoomService, reg *Registry, cfg RoomServiceConfig, log *slog.Logger) *RoomService {
	return newRoomService(local, reg, cfg, log)
}

func newRoomService(local roomapi.RoomService, dir roomDirectory, cfg RoomServiceConfig, log *slog.Logger) *RoomService {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Nodes talk to each other directly, never through the environment's
	// proxy; no idle connections, so nothing outlives a call (the API is
	// for operators, not a hot path).
	tr.Proxy, tr.DisableKeepAlives = nil, true
	return &RoomService{local: local, dir: dir, cfg: cfg, log: log, hc: &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		// A node's answer is final: a redirect would send the token on.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// client calls node on behalf of the caller of ctx.
func (s *RoomService) client(ctx context.Context, node NodeInfo) *roomapi.Client {
	return &roomapi.Client{BaseURL: node.SignalURL, Token: roomapi.CallFrom(ctx).Token, HTTP: s.hc,
		ForwardedBy: s.cfg.Self, MaxResponse: s.cfg.MaxResponse}
}

// ListRooms returns this node's rooms and those of every other live node,
// each asked for its own; a node that does not answer has its rooms listed
// from the registry, by name only, marked unreachable.
func (s *RoomService) ListRooms(ctx context.Context) ([]roomapi.Room, error) {
	own, err := s.local.ListRooms(ctx)
	if err != nil {
		return nil, err
	}
	for i := range own {
		own[i].Node = s.cfg.Self
	}
	if roomapi.CallFrom(ctx).ForwardedBy != "" {
		return own, nil
	}
	nodes, err := s.dir.Nodes(ctx)
	if err != nil {
		return nil, roomapi.Errorf(roomapi.CodeUnavailable, "the cluster registry could not be read: %v", err)
	}
	others := make([][]roomapi.Room, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		if n.ID == s.cfg.Self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			others[i] = s.nodeRooms(ctx, n)
		}()
	}
	wg.Wait()
	return mergeRooms(own, others...), nil
}

func (s *RoomService) nodeRooms(ctx context.Context, n NodeView) []roomapi.Room {
	rooms, err := s.client(ctx, n.NodeInfo).ListRooms(ctx)
	if err == nil {
		for i := range rooms {
			rooms[i].Node = n.ID
		}
		return rooms
	}
	s.log.Warn("room API: node did not list its rooms; using the registry", "node", n.ID, "err", err)
	rooms = make([]roomapi.Room, 0, len(n.Rooms))
	for _, name := range n.Rooms {
		rooms = append(rooms, roomapi.Room{Name: name, Node: n.ID, Unreachable: true})
	}
	return rooms
}

// mergeRooms lists each room once, sorted by name: own first, then the
// other nodes' lists in order (a room moving between nodes may briefly be
// on two).
func mergeRooms(own []roomapi.Room, others ...[]roomapi.Room) []roomapi.Room {
	seen := make(map[string]bool, len(own))
	out := make([]roomapi.Room, 0, len(own))
	for _, list := range append([][]roomapi.Room{own}, others...) {
		for _, r := range list {
			if !seen[r.Name] {
				seen[r.Name] = true
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b roomapi.Room) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// route runs local when this node has the room (or the call was forwarded
// to it), else remote on the client of the room's owner.
func route[T any](ctx context.Context, s *RoomService, room string, local func() (T, error), remote func(*roomapi.Client) (T, error)) (T, error) {
	v, err := local()
	if !errors.Is(err, roomapi.ErrRoomNotFound) || roomapi.CallFrom(ctx).ForwardedBy != "" {
		return v, err
	}
	var zero T
	owner, ok, oerr := s.dir.Owner(ctx, room)
	switch {
	case oerr != nil:
		return zero, roomapi.Errorf(roomapi.CodeUnavailable, "the cluster registry could not be read to find room %q: %v", room, oerr)
	case !ok || owner.ID == s.cfg.Self:
		return v, roomapi.Errorf(roomapi.CodeRoomNotFound, "no room %q in the cluster", room)
	case owner.SignalURL == "":
		return zero, roomapi.Errorf(roomapi.CodeUnavailable, "room %q is on node %s, which advertises no URL", room, owner.ID)
	}
	v, err = remote(s.client(ctx, owner))
	if errors.Is(err, roomapi.ErrUnavailable) {
		s.log.Warn("room API: the room's node could not be reached", "room", room, "node", owner.ID, "err", err)
	}
	return v, err
}

// ListParticipants implements roomapi.RoomService.
func (s *RoomService) ListParticipants(ctx context.Context, room string) ([]roomapi.Participant, error) {
	return route(ctx, s, room,
		func() ([]roomapi.Participant, error) { return s.local.ListParticipants(ctx, room) },
		func(c *roomapi.Client) ([]roomapi.Participant, error) { return c.ListParticipants(ctx, room) })
}

// RemoveParticipant implements roomapi.RoomService.
func (s *RoomService) RemoveParticipant(ctx context.Context, room, identity string) error {
	_, err := route(ctx, s, room,
		func() (struct{}, error) { return struct{}{}, s.local.RemoveParticipant(ctx, room, identity) },
		func(c *roomapi.Client) (struct{}, error) { return struct{}{}, c.RemoveParticipant(ctx, room, identity) })
	return err
}

// MuteTrack implements roomapi.RoomService.
func (s *RoomService) MuteTrack(ctx context.Context, room, identity, trackID string, muted bool) (roomapi.Track, error) {
	return route(ctx, s, room,
		func() (roomapi.Track, error) { return s.local.MuteTrack(ctx, room, identity, trackID, muted) },
		func(c *roomapi.Client) (roomapi.Track, error) {
			return c.MuteTrack(ctx, room, identity, trackID, muted)
		})
}

// CloseRoom implements roomapi.RoomService.
func (s *RoomService) CloseRoom(ctx context.Context, room string) error {
	_, err := route(ctx, s, room,
		func() (struct{}, error) { return struct{}{}, s.local.CloseRoom(ctx, room) },
		func(c *roomapi.Client) (struct{}, error) { return struct{}{}, c.CloseRoom(ctx, room) })
	return err
}
