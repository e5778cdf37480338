package sfu

import (
	"context"
	"slices"
	"strings"

	"github.com/surgertc/surge/sfu/cluster"
	"github.com/surgertc/surge/sfu/roomapi"
	"github.com/surgertc/surge/sfu/signal"
	"github.com/surgertc/surge/sfu/webhook"
)

// localRoomService is the room API for this node's own rooms. It is the
// RoomService the public handler uses unless WithRoomService wraps it (a
// cluster routes a room's calls to the node that owns it).
type localRoomService struct{ s *Server }

var _ roomapi.RoomService = localRoomService{}

func (l localRoomService) lookup(name string) (*Room, error) {
	l.s.mu.Lock()
	r := l.s.rooms[name]
	l.s.mu.Unlock()
	if r == nil {
		return nil, roomapi.Errorf(roomapi.CodeRoomNotFound, "no room %q on this node", name)
	}
	return r, nil
}

func (l localRoomService) participant(room, identity string) (*Room, *Participant, error) {
	r, err := l.lookup(room)
	if err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	p := r.byIdentity[identity]
	r.mu.Unlock()
	if p == nil {
		return nil, nil, roomapi.Errorf(roomapi.CodeParticipantNotFound, "no participant %q in room %q", identity, room)
	}
	return r, p, nil
}

// ListRooms implements roomapi.RoomService.
func (l localRoomService) ListRooms(context.Context) ([]roomapi.Room, error) {
	l.s.mu.Lock()
	rooms := make([]*Room, 0, len(l.s.rooms))
	for _, r := range l.s.rooms {
		rooms = append(rooms, r)
	}
	l.s.mu.Unlock()
	out := make([]roomapi.Room, 0, len(rooms))
	for _, r := range rooms {
		r.mu.Lock()
		out = append(out, roomapi.Room{Name: r.name, Participants: len(r.parts), Tracks: len(r.tracks), CreatedAt: r.created})
		r.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b roomapi.Room) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ListParticipants implements roomapi.RoomService.
func (l localRoomService) ListParticipants(_ context.Context, room string) ([]roomapi.Participant, error) {
	r, err := l.lookup(room)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	members := r.members()
	r.mu.Unlock()
	out := make([]roomapi.Participant, 0, len(members))
	for _, p := range members {
		info := p.info()
		ap := roomapi.Participant{
			ID: p.id, Identity: p.grant.Identity, JoinedAt: p.since,
			CanPublish: p.grant.CanPublish, CanSubscribe: p.grant.CanSubscribe,
			Tracks: make([]roomapi.Track, 0, len(info.Tracks)),
		}
		for _, t := range info.Tracks {
			ap.Tracks = append(ap.Tracks, apiTrack(t))
		}
		slices.SortFunc(ap.Tracks, func(a, b roomapi.Track) int { return strings.Compare(a.ID, b.ID) })
		out = append(out, ap)
	}
	slices.SortFunc(out, func(a, b roomapi.Participant) int { return strings.Compare(a.Identity, b.Identity) })
	return out, nil
}

func apiTrack(t signal.TrackInfo) roomapi.Track {
	return roomapi.Track{ID: t.ID, Kind: t.Kind, Codec: t.Codec, Layers: t.Layers, Muted: t.Muted}
}

// RemoveParticipant implements roomapi.RoomService. The participant is out
// of the room when this returns; its socket closes once leave is written.
func (l localRoomService) RemoveParticipant(_ context.Context, room, identity string) error {
	r, p, err := l.participant(room, identity)
	if err != nil {
		return err
	}
	r.leave(p)
	p.sess.sendAndClose(signal.Message{Type: signal.TypeLeave, Code: signal.CodeRemoved, Reason: "removed from the room by its operator"})
	return nil
}

// MuteTrack implements roomapi.RoomService.
func (l localRoomService) MuteTrack(_ context.Context, room, identity, trackID string, muted bool) (roomapi.Track, error) {
	r, p, err := l.participant(room, identity)
	if err != nil {
		return roomapi.Track{}, err
	}
	var t *Receiver
	p.mu.Lock()
	for _, x := range p.receivers {
		if x.id == trackID {
			t = x
		}
	}
	p.mu.Unlock()
	if t == nil {
		return roomapi.Track{}, roomapi.Errorf(roomapi.CodeTrackNotFound, "participant %q publishes no track %q", identity, trackID)
	}
	if t.setMuted(muted) {
		info := t.info()
		p.log.Info("track mute set by the room API", "track", t.id, "muted", muted)
		r.broadcast(signal.Message{Type: signal.TypeTrackMuted, Track: &info})
		return apiTrack(info), nil
	}
	return apiTrack(t.info()), nil
}

// CloseRoom implements roomapi.RoomService.
func (l localRoomService) CloseRoom(_ context.Context, room string) error {
	r, err := l.lookup(room)
	if err != nil {
		return err
	}
	r.closeNow()
	return nil
}

// broadcast sends m to every member, the publisher included: a client
// learns from track_muted that its own track is no longer forwarded.
func (r *Room) broadcast(m signal.Message) {
	r.mu.Lock()
	members := r.members()
	r.mu.Unlock()
	for _, p := range members {
		p.send(m)
	}
}

// closeNow closes the room at once (room API): nobody may join it any more,
// everyone in it is told room_closed and disconnected. A later join with a
// valid token opens a fresh room of the same name.
func (r *Room) closeNow() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	if r.idle != nil {
		r.idle.Stop()
		r.idle = nil
	}
	members := r.members()
	r.mu.Unlock()
	// Unlisted first, so a racing join opens a fresh room instead of
	// retrying this closed one; room_finished last, after everyone's
	// participant_left, as receivers expect.
	listed := r.srv.unlistRoom(r)
	for _, p := range members {
		r.leave(p)
		p.sess.sendAndClose(signal.Message{Type: signal.TypeLeave, Code: signal.CodeRoomClosed, Reason: "the room was closed by its operator"})
	}
	if listed {
		r.srv.emit(webhook.RoomFinished, r, nil, nil)
	}
	r.log.Info("room closed by the room API", "participants", len(members))
}

// WithRoomService lets the caller wrap this node's room service, e.g. with
// one that sends calls for rooms on other nodes to those nodes. wrap gets the
// local service and returns the one the room API serves.
func WithRoomService(wrap func(local roomapi.RoomService) roomapi.RoomService) Option {
	return func(s *Server) { s.wrapRoomSvc = wrap }
}

// RoomService is the service the room API serves: the local one, in a
// cluster fronted by one that answers for every node's rooms, and then
// whatever WithRoomService made of that.
func (s *Server) RoomService() roomapi.RoomService {
	var svc roomapi.RoomService = localRoomService{s}
	if s.cluster != nil {
		svc = cluster.NewRoomService(svc, s.cluster.Registry(), cluster.DefaultRoomServiceConfig(s.cluster.ID()), s.log)
	}
	if s.wrapRoomSvc != nil {
		return s.wrapRoomSvc(svc)
	}
	return svc
}
