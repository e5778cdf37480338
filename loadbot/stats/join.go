package stats

import "time"

// JoinTiming is how long each stage of one bot's join took, every field
// measured from the moment the bot started joining (so they are cumulative,
// not per-stage). A stage not reached stays 0.
type JoinTiming struct {
	WSOpen       time.Duration // WebSocket to the SFU open
	Joined       time.Duration // join request answered by the SFU
	ICEConnected time.Duration // ICE (and DTLS) connected
	FirstMedia   time.Duration // first RTP packet received (subscribers) or sent (publishers)
	// TURNAllocated, unlike the others, is a stage's own length: from
	// creating the PeerConnection to its first relay candidate (the TURN
	// allocation done), for a bot forced onto a relay path; 0 otherwise.
	TURNAllocated time.Duration
}

// Join failure reasons the runner is expected to use, so reports from
// different runs group the same way. Any other string is allowed.
const (
	FailWSDial     = "ws_dial"     // WebSocket connect failed
	FailRejected   = "rejected"    // SFU answered the join with an error
	FailSignaling  = "signaling"   // offer/answer or candidate exchange broke
	FailICETimeout = "ice_timeout" // ICE did not connect in time
	FailNoMedia    = "no_media"    // connected, but no media in time
	FailRedirect   = "redirect"    // redirect to another node failed
	FailCanceled   = "canceled"    // run ended before the join finished
)

// JoinFailures counts failed joins by reason.
// A nil JoinFailures reads as empty; Add needs a made map.
type JoinFailures map[string]int

// Add counts one failure with the given reason.
func (j JoinFailures) Add(reason string) { j[reason]++ }

// Merge adds every count of o to j.
func (j JoinFailures) Merge(o JoinFailures) {
	for k, v := range o {
		j[k] += v
	}
}

// Total returns the number of failures of any reason.
func (j JoinFailures) Total() int {
	n := 0
	for _, v := range j {
		n += v
	}
	return n
}
