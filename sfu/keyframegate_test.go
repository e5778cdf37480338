package sfu

import (
	"testing"
	"time"
)

// gateStep is one request to a keyframeGate and what it must answer.
type gateStep struct {
	at     int // ms from t0
	layer  int
	spaced bool
	black  bool
	want   keyframeAsk
	retry  int // ms from t0 when held back; -1: sent
}

func runGate(t *testing.T, steps []gateStep) {
	t.Helper()
	t0 := time.Unix(1_700_000_000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	g := keyframeGate{throttle: 500 * time.Millisecond}
	for i, s := range steps {
		got, retry := g.ask(s.layer, ms(s.at), s.spaced, s.black)
		want := time.Time{}
		if s.retry >= 0 {
			want = ms(s.retry)
		}
		if got != s.want || !retry.Equal(want) {
			t.Errorf("step %d: layer %d black %v at %d ms: got %d, again at %v; want %d, again at %v",
				i, s.layer, s.black, s.at, got, retry.Sub(t0), s.want, want.Sub(t0))
		}
	}
}

// TestKeyframeGate: one request per layer per throttle, whoever asks; a
// request for another layer within the publisher's gap is deferred, not
// sent to be dropped (Chromium keeps one 300 ms timer for all layers);
// spaced=false sends regardless of the gap. A request held back says when
// it would go through.
func TestKeyframeGate(t *testing.T) {
	runGate(t, []gateStep{
		{0, 1, true, false, keyframeSent, -1},
		{100, 1, true, false, keyframeThrottled, 500},        // h's keyframe is on its way (or went past)
		{100, 0, true, false, keyframeDeferred, 320},         // Chromium would drop a PLI for q now
		{200, 0, true, false, keyframeDeferred, 320},         // 200 ms: still inside the gap
		{330, 0, true, false, keyframeSent, -1},              // past it
		{520, 1, true, false, keyframeDeferred, 650},         // h's throttle is over, but q's PLI was 190 ms ago
		{520, 2, false, false, keyframeSent, -1},             // unspaced: sent anyway
		{570, 2, false, false, keyframeThrottled, 1020},      // the throttle holds unspaced requests too
		{600, 0, true, false, keyframeThrottled, 840},        // q's throttle ends at 830, the gap after f's at 840
		{850, 1, true, false, keyframeSent, -1},              // 330 ms after the last request
		{850 + 499, 1, true, false, keyframeThrottled, 1350}, // one per throttle
		{850 + 500, 1, true, false, keyframeSent, -1},
	})
}

// TestKeyframeGateBlackFirst: a subscriber that shows nothing until its
// keyframe goes before switches between layers: a switch request that
// would take the publisher's gap from a black subscriber's pending request
// waits until after it, unless that subscriber stopped asking.
func TestKeyframeGateBlackFirst(t *testing.T) {
	runGate(t, []gateStep{
		{0, 0, true, true, keyframeSent, -1},          // A joins on q
		{50, 0, true, true, keyframeThrottled, 500},   // B joins after q's keyframe went past it
		{350, 2, true, false, keyframeDeferred, 820},  // a switch to f would hold B's q until 670
		{500, 0, true, true, keyframeSent, -1},        // B's q goes on time
		{820, 2, true, false, keyframeSent, -1},       // then the switch
		{2000, 0, true, true, keyframeSent, -1},       // C joins on q
		{2100, 1, true, true, keyframeDeferred, 2320}, // D joins on h, within the gap
		{2900, 2, true, false, keyframeSent, -1},      // D never asked again (it left): not held for it
	})
}

// TestKeyframeGateSwitchNotStarved: black requests go first, but not for
// ever: in a join storm a new subscriber asks for q every few tens of
// milliseconds, and a switch to f deferred behind each of them waited for
// the storm to end. After waiting a throttle, the switch takes the next gap.
func TestKeyframeGateSwitchNotStarved(t *testing.T) {
	runGate(t, []gateStep{
		{0, 0, true, true, keyframeSent, -1},           // a joiner's q
		{50, 0, true, true, keyframeThrottled, 500},    // the next joiner waits for q's throttle
		{340, 2, true, false, keyframeDeferred, 820},   // a switch to f would push that q back
		{500, 0, true, true, keyframeSent, -1},         //
		{550, 0, true, true, keyframeThrottled, 1000},  // more joiners
		{820, 2, true, false, keyframeDeferred, 1320},  // still behind them
		{1000, 0, true, true, keyframeSent, -1},        //
		{1050, 0, true, true, keyframeThrottled, 1500}, //
		{1320, 2, true, false, keyframeSent, -1},       // waited a throttle since 340: its turn
		{1500, 0, true, true, keyframeDeferred, 1640},  // the joiner's q after the publisher's gap
		{1640, 0, true, true, keyframeSent, -1},
	})
}
