// Package signal defines Surge's signaling protocol: JSON messages carried
// over a WebSocket at /rtc. The server (package sfu), the loadbot bots and the
// browser demo all speak it; docs/signaling.md describes it message by message.
//
// Every message is one JSON object with a "type" field. One flat struct holds
// every field so that a decoder needs a single pass and no per-type registry;
// Validate checks that the fields a type needs are present.
package signal

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Message types sent by the client.
const (
	TypeJoin         = "join"         // token → joined
	TypeOffer        = "offer"        // client→server: publisher offer; server→client: subscriber offer
	TypeAnswer       = "answer"       // server→client: publisher answer; client→server: subscriber answer
	TypeCandidate    = "candidate"    // trickle ICE, both ways, with Target
	TypeLeave        = "leave"        // both ways; from the server it carries Code/Reason (drain, replaced)
	TypePing         = "ping"         // both ways; the receiver answers pong
	TypePong         = "pong"         // both ways
	TypeSubscription = "subscription" // client→server: max layer / paused for one subscribed track
)

// Message types sent only by the server.
const (
	TypeJoined            = "joined"
	TypeParticipantJoined = "participant_joined"
	TypeParticipantLeft   = "participant_left"
	TypeTrackPublished    = "track_published"
	TypeTrackUnpublished  = "track_unpublished"
	TypeBandwidth         = "bandwidth" // subscriber's estimated downlink, on change, rate-limited
	TypeLayer             = "layer"     // the simulcast layer a subscribed track now forwards
	TypeRedirect          = "redirect"  // the room is on another node: join there (URL); the socket closes
	TypeError             = "error"
	// TypeEvents carries several room events (participant_*, track_*)
	// that happened close together, in order, in Events.
	TypeEvents = "events"
)

// TypeTrackMuted (server → client): the room API muted or unmuted a
// published track; Track carries it with its muted flag.
const TypeTrackMuted = "track_muted"

// Targets name which of the participant's two PeerConnections a message is for.
const (
	TargetPublisher  = "publisher"
	TargetSubscriber = "subscriber"
)

// Simulcast layer names, lowest first.
const (
	LayerQ = "q"
	LayerH = "h"
	LayerF = "f"
)

// MaxMessageBytes is the default size limit of one signaling message. An SDP
// offer with three simulcast video sections and audio is about 6 KiB.
const MaxMessageBytes = 64 << 10

// Message is one signaling message. Fields not used by a type are omitted.
type Message struct {
	Type string `json:"type"`

	// join
	Token string `json:"token,omitempty"`

	// offer, answer, candidate
	Target    string     `json:"target,omitempty"`
	SDP       string     `json:"sdp,omitempty"`
	Candidate *Candidate `json:"candidate,omitempty"`

	// joined, participant_*, track_*
	ParticipantID string            `json:"participant_id,omitempty"`
	Identity      string            `json:"identity,omitempty"`
	Room          string            `json:"room,omitempty"`
	Participants  []ParticipantInfo `json:"participants,omitempty"`
	Participant   *ParticipantInfo  `json:"participant,omitempty"`
	Track         *TrackInfo        `json:"track,omitempty"`
	ICEServers    []ICEServer       `json:"ice_servers,omitempty"`

	// subscription, layer
	TrackID  string `json:"track_id,omitempty"`
	MaxLayer string `json:"max_layer,omitempty"`
	Paused   *bool  `json:"paused,omitempty"`
	Layer    string `json:"layer,omitempty"`

	// bandwidth
	BitrateBps int64 `json:"bitrate_bps,omitempty"`

	// events: room events in the order they happened, each as it would
	// have been sent alone
	Events []Message `json:"events,omitempty"`

	// redirect: the signaling URL of the node that holds the room
	URL string `json:"url,omitempty"`

	// error, leave
	Code   Code   `json:"code,omitempty"`
	Reason string `json:"message,omitempty"`
}

// Candidate mirrors RTCIceCandidateInit as browsers serialise it.
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// ParticipantInfo describes a participant of the room as others see it.
type ParticipantInfo struct {
	ID       string      `json:"id"`
	Identity string      `json:"identity"`
	Tracks   []TrackInfo `json:"tracks,omitempty"`
}

// TrackInfo describes a published track. ID is the track id subscribers see
// in their SDP (msid) and use in subscription messages.
type TrackInfo struct {
	ID            string   `json:"id"`
	ParticipantID string   `json:"participant_id"`
	StreamID      string   `json:"stream_id"`
	Kind          string   `json:"kind"` // "audio" | "video"
	Codec         string   `json:"codec,omitempty"`
	Layers        []string `json:"layers,omitempty"` // simulcast RIDs received, e.g. ["q","h","f"]
	// Muted: the room API stopped forwarding this track (track_muted).
	Muted bool `json:"muted,omitempty"`
}

// ICEServer mirrors RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls" mapstructure:"urls"`
	Username   string   `json:"username,omitempty" mapstructure:"username"`
	Credential string   `json:"credential,omitempty" mapstructure:"credential"`
}

// Code is a stable machine-readable error code. docs/signaling.md lists them.
type Code string

// Error codes. Keep in sync with docs/signaling.md.
const (
	CodeBadRequest    Code = "bad_request"       // malformed JSON or a missing field
	CodeUnknownType   Code = "unknown_type"      // a type the server does not know
	CodeTooLarge      Code = "message_too_large" // over the size limit; the socket closes
	CodeInvalidSDP    Code = "invalid_sdp"       // SDP that could not be applied
	CodeUnauthorized  Code = "unauthorized"      // bad signature, malformed token, unknown key
	CodeTokenExpired  Code = "token_expired"     // token past its expiry
	CodeRoomMismatch  Code = "room_mismatch"     // token is for another room than asked
	CodeForbidden     Code = "forbidden"         // the token lacks the grant (publish/subscribe)
	CodeRoomFull      Code = "room_full"         // max participants reached
	CodeTooManyTracks Code = "too_many_tracks"   // max tracks per participant reached
	CodeNotJoined     Code = "not_joined"        // a message that needs a join came first
	CodeAlreadyJoined Code = "already_joined"    // a second join on one socket
	CodeDraining      Code = "server_draining"   // the server is shutting down; try another node
	CodeReplaced      Code = "replaced"          // the same identity joined again elsewhere
	CodeRemoved       Code = "removed"           // the room API removed this participant (leave only)
	CodeRoomClosed    Code = "room_closed"       // the room API closed the room (leave only)
	CodeTimeout       Code = "timeout"           // no message within the read deadline
	CodeUnknownTrack  Code = "unknown_track"     // subscription for a track not subscribed
	CodeRateLimited   Code = "rate_limited"      // more messages per second than the server takes; the message was dropped
	CodeTooSlow       Code = "too_slow"          // (leave) the client did not read its messages; the socket closes
	CodeInternal      Code = "internal_error"
)

// Error is a protocol error: its Code goes to the client.
type Error struct {
	Code   Code
	Reason string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Reason }

// Errorf builds an *Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// ErrorMessage builds the message that reports err to a client: the code of
// an *Error, internal_error for anything else.
func ErrorMessage(err error) Message {
	var pe *Error
	if errors.As(err, &pe) {
		return Message{Type: TypeError, Code: pe.Code, Reason: pe.Reason}
	}
	return Message{Type: TypeError, Code: CodeInternal, Reason: err.Error()}
}

// Decode parses and validates one client message. It returns an *Error whose
// code says what is wrong, so the caller can send it back unchanged.
func Decode(data []byte, limit int) (Message, error) {
	var m Message
	if limit > 0 && len(data) > limit {
		return m, Errorf(CodeTooLarge, "message of %d bytes exceeds the limit of %d", len(data), limit)
	}
	// json.Unmarshal rejects any trailing non-space data; Decoder.More
	// let a stray "]" or "}" after the object through.
	if err := json.Unmarshal(data, &m); err != nil {
		return Message{}, Errorf(CodeBadRequest, "malformed JSON: %v", err)
	}
	if err := m.Validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// Validate checks that a client message has the fields its type needs.
func (m *Message) Validate() error {
	switch m.Type {
	case "":
		return Errorf(CodeBadRequest, "missing \"type\"")
	case TypeJoin:
		if m.Token == "" {
			return Errorf(CodeBadRequest, "join needs \"token\"")
		}
	case TypeOffer:
		if m.Target != TargetPublisher {
			return Errorf(CodeBadRequest, "offer must target %q", TargetPublisher)
		}
		if m.SDP == "" {
			return Errorf(CodeBadRequest, "offer needs \"sdp\"")
		}
	case TypeAnswer:
		if m.Target != TargetSubscriber {
			return Errorf(CodeBadRequest, "answer must target %q", TargetSubscriber)
		}
		if m.SDP == "" {
			return Errorf(CodeBadRequest, "answer needs \"sdp\"")
		}
	case TypeCandidate:
		if m.Target != TargetPublisher && m.Target != TargetSubscriber {
			return Errorf(CodeBadRequest, "candidate needs target %q or %q", TargetPublisher, TargetSubscriber)
		}
		if m.Candidate == nil {
			return Errorf(CodeBadRequest, "candidate needs \"candidate\"")
		}
	case TypeSubscription:
		if m.TrackID == "" {
			return Errorf(CodeBadRequest, "subscription needs \"track_id\"")
		}
		if m.MaxLayer != "" && LayerIndex(m.MaxLayer) < 0 {
			return Errorf(CodeBadRequest, "max_layer must be one of q, h, f")
		}
	case TypeLeave, TypePing, TypePong:
	default:
		return Errorf(CodeUnknownType, "unknown message type %q", truncate(m.Type, 64))
	}
	return nil
}

// LayerIndex maps q/h/f to 0/1/2, anything else to -1.
func LayerIndex(rid string) int {
	switch rid {
	case LayerQ:
		return 0
	case LayerH:
		return 1
	case LayerF:
		return 2
	}
	return -1
}

// LayerName maps 0/1/2 to q/h/f.
func LayerName(i int) string {
	switch i {
	case 0:
		return LayerQ
	case 1:
		return LayerH
	case 2:
		return LayerF
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
