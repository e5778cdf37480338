package sfu

import (
	"testing"
	"time"
)

// TestKeyframeGate: one request per layer per throttle, whoever asks; a
// request for another layer within the publisher's gap is deferred, not
// sent to be dropped (Chromium keeps one 300 ms timer for all layers);
// spaced=false sends regardless of the gap.
func TestKeyframeGate(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	steps := []struct {
		at     time.Time
		layer  int
		spaced bool
		want   keyframeAsk
	}{
		{ms(0), 1, true, keyframeSent},
		{ms(100), 1, true, keyframeThrottled},       // h's keyframe is on its way
		{ms(100), 0, true, keyframeDeferred},        // Chromium would drop a PLI for q now
		{ms(200), 0, true, keyframeDeferred},        // 200 ms: still inside the gap
		{ms(330), 0, true, keyframeSent},            // past it
		{ms(520), 1, true, keyframeDeferred},        // h's throttle is over, but q's PLI was 190 ms ago
		{ms(520), 2, false, keyframeSent},           // unspaced: sent anyway
		{ms(570), 2, false, keyframeThrottled},      // the throttle holds unspaced requests too
		{ms(850), 1, true, keyframeSent},            // 330 ms after the last request
		{ms(850 + 499), 1, true, keyframeThrottled}, // one per throttle
		{ms(850 + 500), 1, true, keyframeSent},
	}
	g := keyframeGate{throttle: 500 * time.Millisecond}
	for i, s := range steps {
		if got := g.ask(s.layer, s.at, s.spaced); got != s.want {
			t.Errorf("step %d: layer %d at %v: got %d, want %d", i, s.layer, s.at.Sub(t0), got, s.want)
		}
	}
}
