package sfu

import (
	"time"

	"github.com/pion/webrtc/v3"
)

// noDowns is the fan-out of a muted track: the read loops keep reading (and
// caching, so NACKs after unmute still work) but forward to nobody, at no
// cost per packet.
var noDowns = []*DownTrack{}

// setFanoutLocked records every subscriber of r and publishes the fan-out
// the read loops use: all of them, or none while muted. r.mu is held.
func (r *Receiver) setFanoutLocked(all []*DownTrack) {
	r.fanout = all
	if r.muted {
		r.downs.Store(&noDowns)
		return
	}
	r.downs.Store(&all)
}

// setMuted mutes or unmutes r and reports whether that changed anything.
// An unmuted video track asks its publisher for keyframes: subscribers'
// decoders cannot resume from the middle of a frame sequence.
func (r *Receiver) setMuted(muted bool) bool {
	r.mu.Lock()
	changed := r.muted != muted
	r.muted = muted
	r.setFanoutLocked(r.fanout)
	r.mu.Unlock()
	if changed && !muted && r.kind == webrtc.RTPCodecTypeVideo {
		now := time.Now()
		for l := 0; l < maxLayers; l++ {
			// Every layer at once: a libwebrtc publisher honours only
			// the first, the rest come with subscribers' own PLIs.
			_, _ = r.requestKeyframe(l, now, false, false)
		}
	}
	return changed
}
