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
// The room lock guards membership only; Pion calls (AddTrack, offers) are
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

// join admits p, replacing an older session of the same identity, and
// returns the participants already there. The caller sends joined before
// calling subscribeExisting, so the client knows the tracks it is offered.
func (r *Room) join(p *Participant) ([]signal.ParticipantInfo, error) {
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
	if old != nil {
		r.removeLocked(old)
	}
	if r.idle != nil {
		r.idle.Stop()
		r.idle = nil
	}
	others := make([]*Participant, 0, len(r.parts))
	for _, o := range r.parts {
		others = append(others, o)
	}
	r.parts[p.id] = p
	r.byIdentity[p.grant.Identity] = p
	r.mu.Unlock()

	if old != nil {
		old.log.Info("replaced by a new session of the same identity")
		r.afterRemove(old, p) // p learns of the room from joined, not from events
		old.sess.sendAndClose(signal.Message{Type: signal.TypeLeave, Code: signal.CodeReplaced, Reason: "the same identity joined again from another session"})
	}
	r.srv.m.Participants().Inc()
	infos := make([]signal.ParticipantInfo, 0, len(others))
	joined := signal.Message{Type: signal.TypeParticipantJoined, Participant: &signal.ParticipantInfo{ID: p.id, Identity: p.grant.Identity}}
	for _, o := range others {
		infos = append(infos, o.info())
		o.send(joined)
	}
	return infos, nil
}

// subscribeExisting subscribes p to every track already published.
func (r *Room) subscribeExisting(p *Participant) {
	r.mu.Lock()
	tracks := append([]*Receiver(nil), r.tracks...)
	r.mu.Unlock()
	for _, t := range tracks {
		if t.pub != p {
			p.subscribe(t)
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
	r.mu.Unlock()
	r.afterRemove(p, nil)
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

// afterRemove tells the others (but not except) and takes p's tracks away
// from them.
func (r *Room) afterRemove(p, except *Participant) {
	r.srv.m.Participants().Dec()
	r.mu.Lock()
	var mine []*Receiver
	kept := r.tracks[:0]
	for _, t := range r.tracks {
		if t.pub == p {
			mine = append(mine, t)
		} else {
			kept = append(kept, t)
		}
	}
	r.tracks = kept
	others := slices.DeleteFunc(r.members(), func(o *Participant) bool { return o == except })
	r.mu.Unlock()
	for _, t := range mine {
		r.unpublishFrom(others, t)
	}
	left := signal.Message{Type: signal.TypeParticipantLeft, ParticipantID: p.id}
	for _, o := range others {
		o.send(left)
	}
	r.srv.emit(webhook.ParticipantLeft, r, p, nil)
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
	others := r.members()
	r.mu.Unlock()
	r.srv.emit(webhook.TrackPublished, r, pub, t)
	info := t.info()
	ev := signal.Message{Type: signal.TypeTrackPublished, Track: &info}
	for _, o := range others {
		if o == pub {
			continue
		}
		o.send(ev)
		o.subscribe(t)
	}
}

// unpublish withdraws a track that ended on its own (renegotiated away).
func (r *Room) unpublish(t *Receiver) {
	r.mu.Lock()
	found := false
	for i, x := range r.tracks {
		if x == t {
			r.tracks = append(r.tracks[:i], r.tracks[i+1:]...)
			found = true
			break
		}
	}
	others := r.members()
	r.mu.Unlock()
	if found {
		r.unpublishFrom(others, t)
	}
}

func (r *Room) unpublishFrom(members []*Participant, t *Receiver) {
	r.srv.emit(webhook.TrackUnpublished, r, t.pub, t)
	info := t.info()
	ev := signal.Message{Type: signal.TypeTrackUnpublished, Track: &info}
	for _, o := range members {
		if o == t.pub {
			continue
		}
		o.unsubscribe(t)
		o.send(ev)
	}
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
