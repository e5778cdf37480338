package sfu

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/surgertc/surge/sfu/signal"
	"github.com/surgertc/surge/sfu/webhook"
)

// Room is the set of participants that see each other. It is created on the
// first join and closed when it has been empty for Room.EmptyTimeout.
// The room lock guards membership and orders room events: they are queued
// to members (without blocking) under it. Pion calls (AddTrack, offers) are
// made outside it so a slow negotiation never holds up the room.
type Room struct {
	name string
	srv  *Server
	log  *slog.Logger

	created time.Time // for the room API

	mu         sync.Mutex
	parts      map[string]*Participant // by id
	byIdentity map[string]*Participant
	tracks     []*Receiver
	idle       *time.Timer
	closed     bool
}

func newRoom(srv *Server, name string) *Room {
	return &Room{
		name:       name,
		srv:        srv,
		log:        srv.log.With("room", name),
		created:    time.Now(),
		parts:      map[string]*Participant{},
		byIdentity: map[string]*Participant{},
	}
}

// join admits p, replacing an older session of the same identity, queues
// welcome (the joined message) to p with the participants already there,
// and returns the tracks published so far, for p.subscribeAll. Room events are
// queued to members under the room lock, and welcome before any event that
// follows this join, so every member sees the room change in one order and
// its list adds up.
func (r *Room) join(p *Participant, welcome signal.Message) ([]*Receiver, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errRoomClosed
	}
	old := r.byIdentity[p.grant.Identity]
	if old == nil && len(r.parts) >= r.srv.cfg.Room.MaxParticipants {
		r.mu.Unlock()
		return nil, signal.Errorf(signal.CodeRoomFull, "room %q is full (%d participants)", r.name, r.srv.cfg.Room.MaxParticipants)
	}
	var oldTracks []*Receiver
	var others []*Participant
	if old != nil {
		r.removeLocked(old)
		oldTracks = r.takeTracksLocked(old)
		// p learns of the room from welcome, not from events.
		others = r.announceLeaveLocked(old, oldTracks)
	}
	if r.idle != nil {
		r.idle.Stop()
		r.idle = nil
	}
	welcome.Participants = r.infosLocked()
	r.parts[p.id] = p
	r.byIdentity[p.grant.Identity] = p
	p.send(welcome)
	r.broadcastLocked(signal.Message{Type: signal.TypeParticipantJoined, Participant: &signal.ParticipantInfo{ID: p.id, Identity: p.grant.Identity}}, p)
	tracks := slices.Clone(r.tracks)
	r.mu.Unlock()

	if old != nil {
		old.log.Info("replaced by a new session of the same identity")
		r.srv.m.Participants().Dec()
		r.unsubscribeAll(others, oldTracks)
		r.emitLeave(old, oldTracks)
		old.sess.sendAndClose(signal.Message{Type: signal.TypeLeave, Code: signal.CodeReplaced, Reason: "the same identity joined again from another session"})
	}
	r.srv.m.Participants().Inc()
	return tracks, nil
}

// infosLocked describes every member with its published tracks.
func (r *Room) infosLocked() []signal.ParticipantInfo {
	var tracks map[*Participant][]signal.TrackInfo
	if len(r.tracks) > 0 {
		tracks = make(map[*Participant][]signal.TrackInfo, len(r.tracks))
	}
	for _, t := range r.tracks {
		tracks[t.pub] = append(tracks[t.pub], t.info())
	}
	infos := make([]signal.ParticipantInfo, 0, len(r.parts))
	for _, o := range r.parts {
		infos = append(infos, signal.ParticipantInfo{ID: o.id, Identity: o.grant.Identity, Tracks: tracks[o]})
	}
	return infos
}

// broadcastLocked queues a room event to every member but except.
func (r *Room) broadcastLocked(m signal.Message, except *Participant) {
	e := newRoomEvent(m)
	gather := eventGather(len(r.parts))
	for _, o := range r.parts {
		if o != except {
			o.sess.sendEvent(e, gather)
		}
	}
}

// leave removes p if it is still a member (a replaced participant is not).
func (r *Room) leave(p *Participant) {
	r.mu.Lock()
	if r.parts[p.id] != p {
		r.mu.Unlock()
		return
	}
	r.removeLocked(p)
	mine := r.takeTracksLocked(p)
	others := r.announceLeaveLocked(p, mine)
	r.mu.Unlock()
	r.srv.m.Participants().Dec()
	r.unsubscribeAll(others, mine)
	r.emitLeave(p, mine)
}

// emitLeave sends the webhooks of p's leaving: its tracks, then p.
func (r *Room) emitLeave(p *Participant, tracks []*Receiver) {
	for _, t := range tracks {
		r.srv.emit(webhook.TrackUnpublished, r, p, t)
	}
	r.srv.emit(webhook.ParticipantLeft, r, p, nil)
}

func (r *Room) removeLocked(p *Participant) {
	delete(r.parts, p.id)
	if r.byIdentity[p.grant.Identity] == p {
		delete(r.byIdentity, p.grant.Identity)
	}
	if len(r.parts) == 0 && !r.closed {
		r.idle = time.AfterFunc(r.srv.cfg.Room.EmptyTimeout, r.closeIfEmpty)
	}
}

// takeTracksLocked removes p's tracks from the room and returns them.
func (r *Room) takeTracksLocked(p *Participant) []*Receiver {
	var mine []*Receiver
	r.tracks = slices.DeleteFunc(r.tracks, func(t *Receiver) bool {
		if t.pub == p {
			mine = append(mine, t)
			return true
		}
		return false
	})
	return mine
}

// announceLeaveLocked tells the remaining members that p's tracks ended and
// p left, and returns those members.
func (r *Room) announceLeaveLocked(p *Participant, tracks []*Receiver) []*Participant {
	for _, t := range tracks {
		info := t.info()
		r.broadcastLocked(signal.Message{Type: signal.TypeTrackUnpublished, Track: &info}, nil)
	}
	r.broadcastLocked(signal.Message{Type: signal.TypeParticipantLeft, ParticipantID: p.id}, nil)
	return r.members()
}

// unsubscribeAll takes tracks away from members (renegotiating with each),
// outside the room lock.
func (r *Room) unsubscribeAll(members []*Participant, tracks []*Receiver) {
	for _, t := range tracks {
		for _, o := range members {
			o.unsubscribe(t)
		}
	}
}

func (r *Room) members() []*Participant {
	out := make([]*Participant, 0, len(r.parts))
	for _, o := range r.parts {
		out = append(out, o)
	}
	return out
}

// publish makes t visible and subscribes every other member allowed to.
func (r *Room) publish(pub *Participant, t *Receiver) {
	r.mu.Lock()
	if r.parts[pub.id] != pub {
		r.mu.Unlock()
		return
	}
	r.tracks = append(r.tracks, t)
	info := t.info()
	r.broadcastLocked(signal.Message{Type: signal.TypeTrackPublished, Track: &info}, pub)
	others := slices.DeleteFunc(r.members(), func(o *Participant) bool { return o == pub })
	r.mu.Unlock()
	r.srv.emit(webhook.TrackPublished, r, pub, t)
	for _, o := range others {
		o.subscribe(t)
	}
}

// unpublish withdraws a track that ended on its own (renegotiated away).
func (r *Room) unpublish(t *Receiver) {
	r.mu.Lock()
	i := slices.Index(r.tracks, t)
	if i < 0 {
		r.mu.Unlock()
		return
	}
	r.tracks = slices.Delete(r.tracks, i, i+1)
	info := t.info()
	r.broadcastLocked(signal.Message{Type: signal.TypeTrackUnpublished, Track: &info}, t.pub)
	others := slices.DeleteFunc(r.members(), func(o *Participant) bool { return o == t.pub })
	r.mu.Unlock()
	r.srv.emit(webhook.TrackUnpublished, r, t.pub, t)
	r.unsubscribeAll(others, []*Receiver{t})
}

// closeIfUnused starts the idle timer of a room that a failed first join
// left without participants, so that it is closed like any empty room.
func (r *Room) closeIfUnused() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.parts) == 0 && !r.closed && r.idle == nil {
		r.idle = time.AfterFunc(r.srv.cfg.Room.EmptyTimeout, r.closeIfEmpty)
	}
}

func (r *Room) closeIfEmpty() {
	r.mu.Lock()
	if len(r.parts) > 0 || r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	r.srv.removeRoom(r)
	r.log.Info("room closed after idle timeout")
}

// stop cancels the idle timer at shutdown.
func (r *Room) stop() {
	r.mu.Lock()
	r.closed = true
	if r.idle != nil {
		r.idle.Stop()
	}
	r.mu.Unlock()
}
