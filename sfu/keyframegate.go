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
	keyframeThrottled                    // this layer's keyframe was asked for within the throttle: on its way, or gone past a subscriber that came later
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
	// blackAt: per layer, when a held-back request from a subscriber that
	// shows nothing yet will go out (zero: none waits). A switch request
	// for another layer must not take the publisher's gap from it.
	blackAt [maxLayers]time.Time
	// switchSince: per layer, since when a switch request has been held
	// back (zero: none). Black requests go first only for a throttle:
	// in a join storm they come without end, and the switches that
	// waited behind them held a room of 100 on q for up to 3.3 s.
	switchSince [maxLayers]time.Time
}

// ask reports what to do with a request for layer at now, and records a
// request it lets through; for one it holds, from when the same request
// would go through. spaced=false skips the cross-layer gap (for a caller
// that asks for every layer at once and has no retry). black: the asking
// subscriber shows nothing until this keyframe (it just joined, or
// resumes) and asks again when told; such a request goes before switches
// between layers, which only improve a picture already there.
func (g *keyframeGate) ask(layer int, now time.Time, spaced, black bool) (keyframeAsk, time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, at := g.hold(layer, now, spaced, black)
	switch {
	case a == keyframeSent:
		g.last[layer], g.lastAny, g.blackAt[layer], g.switchSince[layer] = now, now, time.Time{}, time.Time{}
	case black && (g.blackAt[layer].IsZero() || at.Before(g.blackAt[layer])):
		g.blackAt[layer] = at
	case !black && spaced && g.switchSince[layer].IsZero():
		g.switchSince[layer] = now
	}
	return a, at
}

func (g *keyframeGate) hold(layer int, now time.Time, spaced, black bool) (keyframeAsk, time.Time) {
	if l := g.last[layer]; !l.IsZero() && now.Sub(l) < g.throttle {
		at := l.Add(g.throttle)
		if spaced && g.lastAny.Add(publisherKeyframeGap).After(at) {
			at = g.lastAny.Add(publisherKeyframeGap)
		}
		return keyframeThrottled, at
	}
	if spaced && !g.lastAny.IsZero() && now.Sub(g.lastAny) < publisherKeyframeGap {
		return keyframeDeferred, g.lastAny.Add(publisherKeyframeGap)
	}
	if waited := g.switchSince[layer]; spaced && !black && (waited.IsZero() || now.Sub(waited) < g.throttle) {
		for m, at := range g.blackAt {
			// One due within the gap would be pushed back by it; one
			// overdue by a throttle has given up (its subscriber left).
			if m != layer && !at.IsZero() && at.Before(now.Add(publisherKeyframeGap)) && now.Sub(at) < g.throttle {
				return keyframeDeferred, at.Add(publisherKeyframeGap)
			}
		}
	}
	return keyframeSent, time.Time{}
}
