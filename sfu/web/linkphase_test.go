package web_test

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// What the weak-link test holds the SFU to (issue 10), for a subscriber
// whose downlink is a bottleneck of a steady rate:
const (
	settleWithin   = 5 * time.Second // on the highest layer that fits, and staying there
	recoverWithin  = 5 * time.Second // back on the top layer after the bottleneck goes
	maxSwitchStall = time.Second     // the picture stops at most this long while stepping down
	freezePeriod   = 40 * time.Second
	minFPSRatio    = 0.85 // the layer held runs at (nearly) the frame rate it is sent at
	// sampleEvery is how often the page samples getStats; a stall measured
	// from framesDecoded is known to within this.
	sampleEvery = 200 * time.Millisecond
)

// linkSample is one reading of the shaped subscriber's inbound video
// (testdata/weaklink-monitor.js); At is Unix milliseconds.
type linkSample struct {
	At                   int64   `json:"at"`
	FrameWidth           int     `json:"frameWidth"`
	FramesPerSecond      float64 `json:"framesPerSecond"`
	FramesDecoded        int64   `json:"framesDecoded"`
	FreezeCount          int     `json:"freezeCount"`
	TotalFreezesDuration float64 `json:"totalFreezesDuration"`
	PauseCount           int     `json:"pauseCount"`
	TotalPausesDuration  float64 `json:"totalPausesDuration"`
	BytesReceived        int64   `json:"bytesReceived"`
	PacketsLost          int64   `json:"packetsLost"`
	KeyFramesDecoded     int64   `json:"keyFramesDecoded"`
}

func (s linkSample) time() time.Time { return time.UnixMilli(s.At) }

// sfuSample is what the SFU says about the subscriber (Snapshot, as
// /debug/rooms shows it): its bandwidth estimate and the layer forwarded.
type sfuSample struct {
	At          time.Time `json:"at"`
	EstimateBps int64     `json:"estimate_bps"`
	Layer       string    `json:"layer"` // "" while video is paused
	Target      string    `json:"target"`
}

// pubSample is the publisher's encoder output per simulcast layer.
type pubSample struct {
	At   time.Time          `json:"at"`
	FPS  map[string]float64 `json:"fps"`
	Kbps map[string]int64   `json:"kbps"`
}

// linkPhase is one stretch of the test with a steady link.
type linkPhase struct {
	Name       string    `json:"name"`
	Kbit       int       `json:"kbit"` // 0: not shaped
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Want       string    `json:"want"`        // the layer that fits; "" when too close to call (not asserted)
	LowestFits bool      `json:"lowest_fits"` // q plus audio fit: video must never pause
	Unchecked  bool      `json:"unchecked"`   // recorded and logged, not held to targets
}

// phaseResult is what one phase measured, and what broke the targets.
type phaseResult struct {
	Phase linkPhase
	// SettledAfter: shaped, when the width became Want's for good;
	// unshaped, when it first reached Want's. -1: never.
	SettledAfter time.Duration
	// MaxFreeze is the longest W3C freeze (getStats) while stepping down;
	// MaxDecodeGap the longest time framesDecoded surely stood still then
	// (between two samples that saw the same count: a lower bound).
	MaxFreeze, MaxDecodeGap time.Duration
	Paused                  string // why video counts as paused; "" if it never was
	SteadyFreezes           int    // freezes after settleWithin
	AllowedFreezes          int
	MeanFPS, PublisherFPS   float64
	Problems                []string
}

// checkPhase holds one phase's records to the targets. It is pure, so its
// verdicts are tested on synthetic timelines (linkphase_check_test.go).
func checkPhase(ph linkPhase, samples []linkSample, sfu []sfuSample, pub []pubSample) phaseResult {
	res := phaseResult{Phase: ph, SettledAfter: -1}
	in := within(samples, ph.Start, ph.End)
	if len(in) < 2 {
		res.Problems = append(res.Problems, fmt.Sprintf("%s: %d stats samples, too few to judge", ph.Name, len(in)))
		return res
	}
	want := layerWidth[ph.Want]
	shaped := ph.Kbit > 0

	// When did it get there?
	switch {
	case want == 0:
	case shaped:
		last := -1
		for i, s := range in {
			if s.FrameWidth != want {
				last = i
			}
		}
		if last < len(in)-1 {
			res.SettledAfter = max(0, in[last+1].time().Sub(ph.Start))
		}
	default:
		for _, s := range in {
			if s.FrameWidth == want {
				res.SettledAfter = max(0, s.time().Sub(ph.Start))
				break
			}
		}
	}
	limit := settleWithin
	if !shaped {
		limit = recoverWithin
	}
	if want != 0 && (res.SettledAfter < 0 || res.SettledAfter > limit) {
		what := "settled on"
		if !shaped {
			what = "reached"
		}
		got := "never"
		if res.SettledAfter >= 0 {
			got = "after " + res.SettledAfter.Round(100*time.Millisecond).String()
		}
		res.Problems = append(res.Problems, fmt.Sprintf("%s: %s %s (%d wide) %s, want within %s; widths per second: %s",
			ph.Name, what, ph.Want, want, got, limit, widthsPerSecond(in, ph.Start)))
	}

	// Pauses: the SFU stopped forwarding video, or the browser saw one.
	for _, s := range sfu {
		if !s.At.Before(ph.Start) && !s.At.After(ph.End) && s.Layer == "" {
			res.Paused = fmt.Sprintf("the SFU forwarded no video layer at %.1f s (estimate %d kbps)", s.At.Sub(ph.Start).Seconds(), s.EstimateBps/1000)
			break
		}
	}
	first, last := in[0], in[len(in)-1]
	if n := last.PauseCount - first.PauseCount; n > 0 && res.Paused == "" {
		res.Paused = fmt.Sprintf("getStats counted %d pause(s), %.1f s", n, last.TotalPausesDuration-first.TotalPausesDuration)
	}
	if shaped && ph.LowestFits && res.Paused != "" {
		res.Problems = append(res.Problems, fmt.Sprintf("%s: video paused although q plus audio fit %d kbit: %s", ph.Name, ph.Kbit, res.Paused))
	}

	// The step down: the first settleWithin (or until settled, if later)
	// plus a second for the switch that settles it.
	if shaped {
		end := ph.Start.Add(settleWithin)
		if res.SettledAfter > settleWithin {
			end = ph.Start.Add(res.SettledAfter)
		} else if res.SettledAfter < 0 {
			end = ph.End
		}
		sw := within(in, ph.Start, end.Add(time.Second))
		res.MaxFreeze, res.MaxDecodeGap = stalls(sw)
		if res.MaxFreeze > maxSwitchStall || res.MaxDecodeGap > maxSwitchStall {
			res.Problems = append(res.Problems, fmt.Sprintf("%s: stepping down stopped the picture for %s (longest freeze; framesDecoded stood still for at least %s), want at most %s",
				ph.Name, res.MaxFreeze.Round(10*time.Millisecond), res.MaxDecodeGap.Round(10*time.Millisecond), maxSwitchStall))
		}
	}

	// The steady bottleneck: freezes and frame rate after settling.
	if shaped {
		steadyStart := ph.Start.Add(settleWithin)
		steady := within(in, steadyStart, ph.End)
		if len(steady) >= 2 {
			d := steady[len(steady)-1].time().Sub(steady[0].time())
			res.SteadyFreezes = steady[len(steady)-1].FreezeCount - steady[0].FreezeCount
			// At most one per 40 s, in a window of any length: a
			// shorter run allows one, not a fraction.
			res.AllowedFreezes = int(math.Ceil(d.Seconds() / freezePeriod.Seconds()))
			if res.SteadyFreezes > res.AllowedFreezes {
				res.Problems = append(res.Problems, fmt.Sprintf("%s: %d freezes in the %.0f s after settling, want at most %d (one per %s)",
					ph.Name, res.SteadyFreezes, d.Seconds(), res.AllowedFreezes, freezePeriod))
			}
			var sum float64
			for _, s := range steady {
				sum += s.FramesPerSecond
			}
			res.MeanFPS = sum / float64(len(steady))
			var psum float64
			var pn int
			for _, p := range pub {
				if !p.At.Before(steadyStart) && !p.At.After(ph.End) && p.FPS[ph.Want] > 0 {
					psum += p.FPS[ph.Want]
					pn++
				}
			}
			if pn > 0 {
				res.PublisherFPS = psum / float64(pn)
			}
			if want != 0 && res.PublisherFPS > 0 && res.MeanFPS < minFPSRatio*res.PublisherFPS {
				res.Problems = append(res.Problems, fmt.Sprintf("%s: received %.1f fps on average after settling, the publisher sends %s at %.1f fps (want at least %.0f %%)",
					ph.Name, res.MeanFPS, ph.Want, res.PublisherFPS, minFPSRatio*100))
			}
		}
	}
	return res
}

// within returns the samples taken in [from, to].
func within(s []linkSample, from, to time.Time) []linkSample {
	var out []linkSample
	for _, x := range s {
		if t := x.time(); !t.Before(from) && !t.After(to) {
			out = append(out, x)
		}
	}
	return out
}

// stalls returns the longest single freeze the browser counted and the
// longest time framesDecoded surely stood still: from a sample to the
// last one that saw the same count (no frame was decoded in between).
func stalls(s []linkSample) (freeze, decodeGap time.Duration) {
	lastMove := s[0].time()
	for i := 1; i < len(s); i++ {
		a, b := s[i-1], s[i]
		if n := b.FreezeCount - a.FreezeCount; n > 0 {
			// Counters move once per freeze, when the next frame
			// arrives; two in one sample share the duration.
			d := time.Duration((b.TotalFreezesDuration - a.TotalFreezesDuration) / float64(n) * float64(time.Second))
			freeze = max(freeze, d)
		}
		if b.FramesDecoded > a.FramesDecoded {
			decodeGap = max(decodeGap, a.time().Sub(lastMove))
			lastMove = b.time()
		}
	}
	decodeGap = max(decodeGap, s[len(s)-1].time().Sub(lastMove))
	return freeze, decodeGap
}

// widthsPerSecond is the frame width at each second of a phase, for
// failure messages: "1280 1280 640 320 320 ...".
func widthsPerSecond(s []linkSample, start time.Time) string {
	var b strings.Builder
	next := start
	for _, x := range s {
		if x.time().Before(next) {
			continue
		}
		fmt.Fprintf(&b, "%d ", x.FrameWidth)
		next = next.Add(time.Second)
	}
	return strings.TrimSpace(b.String())
}

// expectLayer says which layer should fit a link of kbit/s, from what the
// publisher sends (kbps per layer, and audio): each layer's need on the
// wire is its rate plus 10 % for headers and SRTP tags, plus audio and its
// headers (~50 packets/s of ~86 bytes: 35 kbit/s). The layer to settle on
// is the highest that needs at most 85 % of the link; the answer is ""
// (not asserted) when the next layer up needs between 85 % and 100 %: too
// close to call. lowestFits: q plus audio fit at all, so video must flow.
func expectLayer(kbit int, videoKbps map[string]int64, audioKbps int64) (want string, lowestFits bool) {
	need := func(l string) float64 { return 1.1*float64(videoKbps[l]) + float64(audioKbps) + 35 }
	link := float64(kbit)
	lowestFits = videoKbps["q"] > 0 && need("q") <= link
	for i, l := range simulcastLayers {
		if videoKbps[l] == 0 || need(l) > 0.85*link {
			break
		}
		if i+1 < len(simulcastLayers) && videoKbps[simulcastLayers[i+1]] > 0 && need(simulcastLayers[i+1]) <= link &&
			need(simulcastLayers[i+1]) > 0.85*link {
			return "", lowestFits
		}
		want = l
	}
	return want, lowestFits
}

// simulcastLayers, lowest first.
var simulcastLayers = []string{"q", "h", "f"}
