package sfu

import (
	"encoding/json"

	"github.com/surgertc/surge/sfu/signal"
)

// roomEvent is one room event (participant_joined/left,
// track_published/unpublished), encoded once for every member it goes to:
// in a crowd each join is announced to everyone, and encoding it per
// member would cost as much as the writes batching saves.
type roomEvent struct {
	undo bool   // participant_left or track_unpublished
	key  string // the participant or track it concerns
	raw  []byte // the message as sent alone
}

func newRoomEvent(m signal.Message) roomEvent {
	e := roomEvent{}
	switch m.Type {
	case signal.TypeParticipantJoined:
		e.key = m.Participant.ID
	case signal.TypeParticipantLeft:
		e.undo, e.key = true, m.ParticipantID
	case signal.TypeTrackPublished:
		e.key = m.Track.ID
	case signal.TypeTrackUnpublished:
		e.undo, e.key = true, m.Track.ID
	}
	// Participant and track ids never collide (PA_ and TR_ prefixes).
	e.raw, _ = json.Marshal(m) // a Message always encodes
	return e
}

// maxEventsBytes bounds one events message, so that a client reading with
// a modest limit (a few times signal.MaxMessageBytes) is never cut off
// however many events waited.
const maxEventsBytes = 32 << 10

// eventBatch holds one socket's room events until its writer sends them.
// An event that undoes one still waiting (a participant leaving, or a
// track ending, before this client heard of it) removes that one instead of
// being added. The batch therefore never holds more than two events per
// participant and track of the room, however fast members come and go, and
// what the client learns still adds up to the room as it is.
type eventBatch struct {
	evs   []roomEvent // in order; a removed event has raw == nil
	count int         // events in evs not removed
	// open maps a key to the index in evs of its joined/published event.
	// It is built at the first undo only: a crowd's joins never pay for it.
	open map[string]int
}

func (b *eventBatch) empty() bool { return b.count == 0 }

// add appends e, or removes the waiting event e undoes.
func (b *eventBatch) add(e roomEvent) {
	if e.undo {
		if b.open == nil {
			b.index()
		}
		if i, ok := b.open[e.key]; ok {
			b.evs[i].raw = nil
			delete(b.open, e.key)
			b.count--
			if len(b.evs) > 2*b.count+16 {
				b.compact()
			}
			return
		}
	} else if b.open != nil {
		b.open[e.key] = len(b.evs)
	}
	b.evs = append(b.evs, e)
	b.count++
}

// index builds open from evs.
func (b *eventBatch) index() {
	b.open = make(map[string]int, len(b.evs))
	for i, e := range b.evs {
		if e.raw != nil && !e.undo {
			b.open[e.key] = i
		}
	}
}

// compact drops removed events, so churn cannot grow the slice.
func (b *eventBatch) compact() {
	kept := b.evs[:0]
	for _, e := range b.evs {
		if e.raw != nil {
			kept = append(kept, e)
		}
	}
	clear(b.evs[len(kept):])
	b.evs = kept
	b.index()
}

// take removes the oldest events and returns them as one message: a lone
// event as itself (what clients unaware of events messages expect), several
// as an events message of at most maxEventsBytes (unless one event alone is
// larger). It returns nil when the batch is empty.
func (b *eventBatch) take() []byte {
	const prefix = `{"type":"` + signal.TypeEvents + `","events":[`
	// Measure first, so the message is allocated once at its final size:
	// in a crowd every member takes a batch per interval.
	size := len(prefix) + len("]}")
	first, n, end := -1, 0, 0
	for ; end < len(b.evs); end++ {
		raw := b.evs[end].raw
		if raw == nil {
			continue
		}
		if n > 0 && size+len(raw)+1 > maxEventsBytes {
			break
		}
		if n == 0 {
			first = end
		}
		size += len(raw) + 1
		n++
	}
	var out []byte
	switch n {
	case 0:
	case 1:
		out = b.evs[first].raw
	default:
		out = append(make([]byte, 0, size), prefix...)
		for _, e := range b.evs[first:end] {
			if e.raw != nil {
				out = append(append(out, e.raw...), ',')
			}
		}
		out = append(out[:len(out)-1], ']', '}')
	}
	b.drop(end, n)
	return out
}

// drop removes the first end events, n of which were not removed.
func (b *eventBatch) drop(end, n int) {
	b.count -= n
	rest := copy(b.evs, b.evs[end:])
	clear(b.evs[rest:])
	b.evs = b.evs[:rest]
	b.open = nil // rebuilt at the next undo
}
