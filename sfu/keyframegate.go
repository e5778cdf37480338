package sfu

import (
	"sync"
	"time"
)

// publisherKeyframeGap is how long a libwebrtc sender ignores keyframe
// requests after it accepted one: EncoderRtcpFeedback keeps one timestamp
// for all the simulcast layers of a track (kMinKeyframeSendIntervalMs,
// 300 ms), so a PLI for q sent 200 ms after one for h is dropped by
// Chromium and the switch to q waits for the retry. A little over it, for
// the PLI's own trip.
const publisherKeyframeGap = 320 * time.Millisecond

type keyframeAsk int

const (
	keyframeSent      keyframeAsk = iota // send the PLI now
	keyframeThrottled                    // this layer's keyframe was asked for within the throttle: it is on its way
	keyframeDeferred                     // another layer's was asked for just now: the publisher would drop this one; ask again later
)

// keyframeGate decides whether a keyframe request for one layer of a
// published track goes upstream now. Pure apart from its lock: time comes
// in as an argument.
type keyframeGate struct {
	mu       sync.Mutex
	throttle time.Duration // per layer: one request per throttle, whoever asks
	last     [maxLayers]time.Time
	lastAny  time.Time
}

// ask reports what to do with a request for layer at now, and records a
// request it lets through. spaced=false skips the cross-layer gap (for a
// caller that asks for every layer at once and has no retry).
func (g *keyframeGate) ask(layer int, now time.Time, spaced bool) keyframeAsk {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l := g.last[layer]; !l.IsZero() && now.Sub(l) < g.throttle {
		return keyframeThrottled
	}
	if spaced && !g.lastAny.IsZero() && now.Sub(g.lastAny) < publisherKeyframeGap {
		return keyframeDeferred
	}
	g.last[layer], g.lastAny = now, now
	return keyframeSent
}
