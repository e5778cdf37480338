package web_test

import (
	"strings"
	"testing"
	"time"
)

// synthLink builds what the page would record over a phase: a sample every
// sampleEvery, 30 fps decoded while decoding(t), the width given, and W3C
// freezes (counted when they end) at the given times.
type synthLink struct {
	width    func(t time.Duration) int
	decoding func(t time.Duration) bool
	freezes  map[time.Duration]time.Duration // end time → duration
	pauses   map[time.Duration]time.Duration
	fps      float64
}

func (s synthLink) samples(start time.Time, d time.Duration) []linkSample {
	var out []linkSample
	var cur linkSample
	for t := time.Duration(0); t <= d; t += sampleEvery {
		if s.decoding == nil || s.decoding(t) {
			cur.FramesDecoded += 6
			cur.FramesPerSecond = s.fps
		} else {
			cur.FramesPerSecond = 0
		}
		for end, fd := range s.freezes {
			if end > t-sampleEvery && end <= t {
				cur.FreezeCount++
				cur.TotalFreezesDuration += fd.Seconds()
			}
		}
		for end, pd := range s.pauses {
			if end > t-sampleEvery && end <= t {
				cur.PauseCount++
				cur.TotalPausesDuration += pd.Seconds()
			}
		}
		cur.FrameWidth = s.width(t)
		cur.At = start.Add(t).UnixMilli()
		out = append(out, cur)
	}
	return out
}

func stepTo(before, after int, at time.Duration) func(time.Duration) int {
	return func(t time.Duration) int {
		if t < at {
			return before
		}
		return after
	}
}

func TestCheckPhaseHoldsTheWeakLinkTargets(t *testing.T) {
	start := time.UnixMilli(1_700_000_000_000)
	shaped := linkPhase{Name: "400kbit", Kbit: 400, Start: start, End: start.Add(30 * time.Second), Want: "q", LowestFits: true}
	recovery := linkPhase{Name: "after", Start: start, End: start.Add(10 * time.Second), Want: "f"}
	pub := []pubSample{{At: start.Add(10 * time.Second), FPS: map[string]float64{"q": 30, "f": 30}}}
	stoppedBetween := func(from, to time.Duration) func(time.Duration) bool {
		return func(t time.Duration) bool { return t < from || t >= to }
	}
	for _, tc := range []struct {
		name  string
		phase linkPhase
		link  synthLink
		sfu   []sfuSample
		want  []string // substrings of the problems; none: no problem
	}{
		{name: "clean step down and steady", phase: shaped, link: synthLink{
			width: stepTo(1280, 320, 600*time.Millisecond), fps: 30,
			freezes: map[time.Duration]time.Duration{800 * time.Millisecond: 400 * time.Millisecond},
		}},
		{name: "paused although q fits", phase: shaped, link: synthLink{
			width: stepTo(1280, 320, 600*time.Millisecond), fps: 30, decoding: stoppedBetween(2*time.Second, 14*time.Second),
			pauses: map[time.Duration]time.Duration{14 * time.Second: 12 * time.Second},
		}, sfu: []sfuSample{{At: start.Add(3 * time.Second), Layer: ""}}, want: []string{
			"video paused although q plus audio fit 400 kbit: the SFU forwarded no video layer at 3.0 s",
			// A pause also stops the picture and lowers the frame rate.
			"framesDecoded stood still for at least 4.2s", "received 19.3 fps",
		}},
		{name: "paused, seen only by the browser", phase: shaped, link: synthLink{
			width: stepTo(1280, 320, 600*time.Millisecond), fps: 30, decoding: stoppedBetween(10*time.Second, 17*time.Second),
			pauses: map[time.Duration]time.Duration{17 * time.Second: 7 * time.Second},
		}, want: []string{"getStats counted 1 pause(s), 7.0 s", "received 21.7 fps"}},
		{name: "settles late", phase: shaped, link: synthLink{
			width: func(t time.Duration) int {
				return map[bool]int{true: 640, false: 320}[t < 7*time.Second]
			}, fps: 30,
		}, want: []string{"settled on q (320 wide) after 7s, want within 5s"}},
		{name: "probes a higher layer and comes back", phase: shaped, link: synthLink{
			width: func(t time.Duration) int {
				if t < time.Second || (t >= 20*time.Second && t < 21*time.Second) {
					return 640
				}
				return 320
			}, fps: 30,
		}, want: []string{"after 21s"}},
		{name: "long stall while stepping down", phase: shaped, link: synthLink{
			width: stepTo(1280, 320, 2*time.Second), fps: 30, decoding: stoppedBetween(500*time.Millisecond, 2*time.Second),
			freezes: map[time.Duration]time.Duration{2 * time.Second: 1500 * time.Millisecond},
		}, want: []string{"stepping down stopped the picture for 1.5s"}},
		{name: "stall seen in framesDecoded only", phase: shaped, link: synthLink{
			width: stepTo(1280, 320, 2*time.Second), fps: 30, decoding: stoppedBetween(time.Second, 2600*time.Millisecond),
		}, want: []string{"stood still for at least 1.6s"}},
		{name: "two freezes on a steady bottleneck", phase: shaped, link: synthLink{
			width: stepTo(1280, 320, 600*time.Millisecond), fps: 30,
			freezes: map[time.Duration]time.Duration{10 * time.Second: 300 * time.Millisecond, 20 * time.Second: 300 * time.Millisecond},
		}, want: []string{"2 freezes in the 25 s after settling, want at most 1"}},
		{name: "layer held at a low frame rate", phase: shaped, link: synthLink{
			width: stepTo(1280, 320, 600*time.Millisecond), fps: 12,
		}, want: []string{"received 12.0 fps on average"}},
		{name: "back on top in time", phase: recovery, link: synthLink{width: stepTo(320, 1280, 3*time.Second), fps: 30}},
		{name: "back on top too late", phase: recovery, link: synthLink{width: stepTo(320, 1280, 7*time.Second), fps: 30},
			want: []string{"reached f (1280 wide) after 7s, want within 5s"}},
		{name: "never back on top", phase: recovery, link: synthLink{width: stepTo(320, 640, 2*time.Second), fps: 30},
			want: []string{"reached f (1280 wide) never"}},
		{name: "too close to call: layer not asserted", phase: linkPhase{Name: "edge", Kbit: 900, Start: start, End: start.Add(30 * time.Second), LowestFits: true},
			link: synthLink{width: stepTo(1280, 640, 10*time.Second), fps: 30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.phase.End.Sub(tc.phase.Start)
			res := checkPhase(tc.phase, tc.link.samples(start, d), tc.sfu, pub)
			if len(tc.want) == 0 && len(res.Problems) > 0 {
				t.Fatalf("want no problem, got %q", res.Problems)
			}
			if len(res.Problems) != len(tc.want) {
				t.Fatalf("got problems %q, want %d matching %q", res.Problems, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(res.Problems[i], w) {
					t.Errorf("problem %q does not say %q", res.Problems[i], w)
				}
			}
		})
	}
}

func TestExpectLayer(t *testing.T) {
	// Chromium's fake camera, as the SFU measures it (issue 10).
	video := map[string]int64{"q": 150, "h": 360, "f": 750}
	for _, tc := range []struct {
		kbit       int
		want       string
		lowestFits bool
	}{
		{250, "", true},   // q needs 240 of 250: flows, but too close to call
		{400, "q", true},  // h needs 471
		{500, "", true},   // h needs 471 of 500
		{700, "h", true},  // f needs 900
		{1000, "", true},  // f needs 900 of 1000
		{1200, "f", true}, // everything fits
		{200, "", false},  // not even q
	} {
		want, lowest := expectLayer(tc.kbit, video, 40)
		if want != tc.want || lowest != tc.lowestFits {
			t.Errorf("%d kbit: got %q, lowest fits %v; want %q, %v", tc.kbit, want, lowest, tc.want, tc.lowestFits)
		}
	}
}
