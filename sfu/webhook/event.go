// Package webhook delivers Surge's room events (room_started,
// room_finished, participant_joined, participant_left, track_published,
// track_unpublished) to HTTP endpoints: each event is a signed JSON POST,
// retried with backoff, from a bounded queue per endpoint that never blocks
// the caller. docs/webhooks.md is the receivers' contract.
//
// Events enter through Notifier.Notify (called on the signaling path: it
// only copies the event into a channel or counts a drop) and leave from one
// delivery goroutine per URL, so a slow or dead endpoint delays only its own
// events.
package webhook

import "time"

// Event kinds.
const (
	RoomStarted       = "room_started"
	RoomFinished      = "room_finished"
	ParticipantJoined = "participant_joined"
	ParticipantLeft   = "participant_left"
	TrackPublished    = "track_published"
	TrackUnpublished  = "track_unpublished"
)

// Event is one webhook body.
type Event struct {
	// ID is unique per event; a retried delivery repeats it, so receivers
	// can drop duplicates.
	ID        string       `json:"id"`
	Event     string       `json:"event"`
	CreatedAt time.Time    `json:"created_at"`
	Room      Room         `json:"room"`
	Node      string       `json:"node,omitempty"`
	Part      *Participant `json:"participant,omitempty"`
	Track     *Track       `json:"track,omitempty"`
}

// Room names the room of an event.
type Room struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Participant is the participant of a participant_* or track_* event.
type Participant struct {
	ID       string `json:"id"`
	Identity string `json:"identity"`
}

// Track is the track of a track_* event.
type Track struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Codec string `json:"codec,omitempty"`
}
