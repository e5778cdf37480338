package web_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/surgertc/surge/sfu"
)

// weakLinkConfig is the test's schedule; the SURGE_WEAKLINK_* variables
// override it, so scripts/weaklink-chromium.sh can measure other links.
type weakLinkConfig struct {
	Rates   []int         // kbit/s, one shaped phase each (SURGE_WEAKLINK_RATES=250,400,700)
	Shaped  time.Duration // each shaped phase (SURGE_WEAKLINK_SHAPED=30s)
	Recover time.Duration // unshaped after each (SURGE_WEAKLINK_RECOVER=10s)
}

func weakLinkConfigFromEnv(t *testing.T) weakLinkConfig {
	c := weakLinkConfig{Rates: []int{250, 400, 700}, Shaped: 30 * time.Second, Recover: 10 * time.Second}
	if v := os.Getenv("SURGE_WEAKLINK_RATES"); v != "" {
		c.Rates = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 50 || n > 100_000 {
				t.Fatalf("SURGE_WEAKLINK_RATES=%q: want kbit/s between 50 and 100000, comma-separated", v)
			}
			c.Rates = append(c.Rates, n)
		}
	}
	for _, d := range []struct {
		env string
		to  *time.Duration
		min time.Duration
	}{{"SURGE_WEAKLINK_SHAPED", &c.Shaped, settleWithin + 5*time.Second}, {"SURGE_WEAKLINK_RECOVER", &c.Recover, recoverWithin + time.Second}} {
		if v := os.Getenv(d.env); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x < d.min || x > 10*time.Minute {
				t.Fatalf("%s=%q: want a duration from %s to 10m", d.env, v, d.min)
			}
			*d.to = x
		}
	}
	return c
}

// TestBrowserWeakLink puts a real Chromium subscriber behind a bottleneck
// (HTB on lo, 15 kB tail-drop queue, on its own UDP port) at a few rates,
// each followed by the bottleneck going away, and holds what it sees to
// issue 10's targets: video never pauses while q plus audio fits, it
// settles on the highest layer that fits within 5 s and stays there, a
// step down stops the picture for at most a second, at most one freeze per
// 40 s on the steady bottleneck at the layer's full frame rate, and back to
// the top layer within 5 s once the bottleneck is gone. It logs a timeline
// per second and writes every sample to $SURGE_ARTIFACTS.
//
// A real browser on a shared machine misses a timing target now and then
// for reasons of its own (one run in seventeen here, a step up at 400
// kbit/s), so in the suite a run that misses one is repeated once, with
// the first run's misses logged, and the test fails only if both miss.
// SURGE_WEAKLINK_ATTEMPTS=1 (scripts/weaklink-chromium.sh sets it) makes
// each run count alone, for a pass rate.
func TestBrowserWeakLink(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and shapes lo for two minutes; not in -short")
	}
	cfg := weakLinkConfigFromEnv(t)
	attempts := 2
	if v := os.Getenv("SURGE_WEAKLINK_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5 {
			t.Fatalf("SURGE_WEAKLINK_ATTEMPTS=%q: want 1 to 5", v)
		}
		attempts = n
	}
	var problems []string
	for i := 1; i <= attempts; i++ {
		if !t.Run(fmt.Sprintf("run-%d", i), func(t *testing.T) { problems = weakLinkRun(t, cfg) }) {
			return // set-up failed: the subtest said why
		}
		if len(problems) == 0 {
			return
		}
		if i < attempts {
			t.Logf("run %d missed a target, running once more: %s", i, strings.Join(problems, "; "))
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// weakLinkRun is one run of TestBrowserWeakLink; it returns the targets
// missed.
func weakLinkRun(t *testing.T, cfg weakLinkConfig) []string {
	shaper := newLoShaper(t) // skips unless root with a working tc
	b := startBrowser(t)
	s := startSFU(t)
	base := "http://" + strings.TrimSuffix(strings.TrimPrefix(s.URL(), "ws://"), "/rtc")
	alice := b.open(t, "alice", base+"/?room="+room+"&name=alice")
	join(t, alice)
	bob := b.open(t, "bob", base+"/?room="+room+"&name=bob&publish=0")
	join(t, bob)

	var aliceVideo string
	var since time.Time
	warm := time.Now()
	bob.waitFor(t, 45*time.Second, "bob on alice's f layer, 1280 wide, for 2 s", func() string {
		st := bob.stats(t)
		_, aliceVideo, _ = st.peer("alice")
		v := st.inbound(aliceVideo)
		sub := subscription(s, "bob", aliceVideo)
		if v == nil || v.FrameWidth != 1280 || sub == nil || sub.Layer != "f" {
			since = time.Time{}
			return fmt.Sprintf("inbound %+v, SFU subscription %+v", v, sub)
		}
		if since.IsZero() {
			since = time.Now()
		}
		if time.Since(since) < 2*time.Second {
			return "on f for less than 2 s"
		}
		return ""
	})
	t.Logf("bob decodes alice's f layer %s after joining", time.Since(warm).Round(100*time.Millisecond))
	port := candidatePort(bob.stats(t).Subscriber.Transport.Local)
	if port == 0 {
		t.Fatalf("no local candidate port for bob's subscriber: %+v", bob.stats(t).Subscriber.Transport)
	}
	shaper.shape(port)
	script, err := os.ReadFile(filepath.Join("testdata", "weaklink-monitor.js"))
	if err != nil {
		t.Fatal(err)
	}
	var installed string
	bob.mustEval(t, string(script), &installed)

	rec := &linkRecorder{s: s, bob: bob, alice: alice, videoID: aliceVideo}
	var phases []linkPhase
	run := func(ph linkPhase, d time.Duration) {
		ph.Start = time.Now()
		rec.record(t, d)
		ph.End = time.Now()
		phases = append(phases, ph)
	}
	run(linkPhase{Name: "unshaped", Want: "f", Unchecked: true}, 4*time.Second)
	videoKbps, audioKbps := rec.publisherKbps(phases[0].Start)
	t.Logf("bob's subscriber port %d; alice sends q/h/f at %d/%d/%d kbps, audio %d kbps", port, videoKbps["q"], videoKbps["h"], videoKbps["f"], audioKbps)
	for i, kbit := range cfg.Rates {
		if i > 0 && !rec.onTop() {
			// Each bottleneck starts from the top layer, so that each
			// measures a step down: wait (recording) for the SFU to
			// get there if the last recovery did not.
			ph := linkPhase{Name: "(to-top)", Unchecked: true, Start: time.Now()}
			for end := time.Now().Add(20 * time.Second); !rec.onTop() && time.Now().Before(end); {
				rec.record(t, time.Second)
			}
			ph.End = time.Now()
			phases = append(phases, ph)
		}
		want, lowest := expectLayer(kbit, videoKbps, audioKbps)
		if err := shaper.set(kbit); err != nil {
			t.Fatalf("shape bob's downlink to %d kbit/s: %v", kbit, err)
		}
		run(linkPhase{Name: fmt.Sprintf("%dkbit", kbit), Kbit: kbit, Want: want, LowestFits: lowest}, cfg.Shaped)
		t.Logf("%d kbit/s bottleneck: %s", kbit, shaper.stats())
		if err := shaper.clear(); err != nil {
			t.Fatalf("remove the shaping: %v", err)
		}
		run(linkPhase{Name: fmt.Sprintf("after-%dkbit", kbit), Want: "f"}, cfg.Recover)
	}
	rec.drain(t)

	start := phases[0].Start
	for _, line := range rec.timeline(phases) {
		t.Log(line)
	}
	var results []phaseResult
	for _, ph := range phases {
		if ph.Unchecked {
			continue
		}
		r := checkPhase(ph, rec.samples, rec.sfu, rec.pub)
		results = append(results, r)
		want := ph.Want
		if want == "" {
			want = "(too close to call)"
		}
		t.Logf("%-14s %5.1f–%5.1f s  want %-3s settled %-7s  step-down freeze %-6s decode gap ≥%-6s  steady freezes %d/%d  fps %.1f of %.1f  paused: %s",
			ph.Name, ph.Start.Sub(start).Seconds(), ph.End.Sub(start).Seconds(), want, fmtDur(r.SettledAfter),
			r.MaxFreeze.Round(10*time.Millisecond), r.MaxDecodeGap.Round(10*time.Millisecond), r.SteadyFreezes, r.AllowedFreezes,
			r.MeanFPS, r.PublisherFPS, orNo(r.Paused))
	}
	path := filepath.Join(artifactDir(t), "weaklink-chromium.json")
	if data, err := json.MarshalIndent(struct {
		Phases  []linkPhase    `json:"phases"`
		Results []phaseResult  `json:"results"`
		Samples []linkSample   `json:"samples"`
		Frames  []presentedFrm `json:"frames"`
		SFU     []sfuSample    `json:"sfu"`
		Pub     []pubSample    `json:"publisher"`
	}{phases, results, rec.samples, rec.frames, rec.sfu, rec.pub}, "", " "); err == nil {
		if err := os.WriteFile(path, data, 0o644); err == nil {
			t.Logf("every sample: %s", path)
		}
	}
	var problems []string
	for _, r := range results {
		problems = append(problems, r.Problems...)
	}
	return problems
}

func fmtDur(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.Round(100 * time.Millisecond).String()
}

func orNo(s string) string {
	if s == "" {
		return "no"
	}
	return s
}

// presentedFrm is a frame the <video> element presented: Unix ms, width.
type presentedFrm [2]int64

// linkRecorder collects, once a second, what the shaped subscriber's page
// recorded, what the publisher's encoder sends and what the SFU says.
type linkRecorder struct {
	s          *sfu.Server
	bob, alice *page
	videoID    string

	samples []linkSample
	frames  []presentedFrm
	sfu     []sfuSample
	pub     []pubSample
}

func (r *linkRecorder) record(t *testing.T, d time.Duration) {
	end := time.Now().Add(d)
	for next := time.Now(); next.Before(end); next = next.Add(time.Second) {
		time.Sleep(time.Until(next))
		r.drain(t)
		at := time.Now()
		ss := sfuSample{At: at}
		if p := participant(r.s, "bob"); p != nil {
			ss.EstimateBps = p.EstimateBps
		}
		if sub := subscription(r.s, "bob", r.videoID); sub != nil {
			ss.Layer, ss.Target = sub.Layer, sub.Target
		}
		r.sfu = append(r.sfu, ss)
		ps := pubSample{At: at, FPS: map[string]float64{}, Kbps: map[string]int64{}}
		for _, o := range r.alice.stats(t).Publisher.Outbound {
			key := o.RID
			if o.Kind == "audio" {
				key = "audio"
			}
			ps.FPS[key], ps.Kbps[key] = o.FramesPerSecond, o.Bitrate/1000
		}
		r.pub = append(r.pub, ps)
	}
	time.Sleep(time.Until(end))
}

// onTop reports whether the subscriber last decoded 1280 wide and the SFU
// forwards f.
func (r *linkRecorder) onTop() bool {
	return len(r.samples) > 0 && r.samples[len(r.samples)-1].FrameWidth == layerWidth["f"] &&
		len(r.sfu) > 0 && r.sfu[len(r.sfu)-1].Layer == "f"
}

// drain moves what the page recorded since the last call into r.
func (r *linkRecorder) drain(t *testing.T) {
	var got struct {
		Samples []linkSample   `json:"samples"`
		Frames  []presentedFrm `json:"frames"`
	}
	r.bob.mustEval(t, "window.weakLink.drain()", &got)
	r.samples = append(r.samples, got.Samples...)
	r.frames = append(r.frames, got.Frames...)
}

// publisherKbps averages what the publisher sent per layer since from.
func (r *linkRecorder) publisherKbps(from time.Time) (video map[string]int64, audio int64) {
	sum, n := map[string]int64{}, map[string]int64{}
	for _, p := range r.pub {
		if p.At.Before(from) {
			continue
		}
		for k, v := range p.Kbps {
			if v > 0 {
				sum[k] += v
				n[k]++
			}
		}
	}
	video = map[string]int64{}
	for k := range sum {
		if k != "audio" {
			video[k] = sum[k] / n[k]
		}
	}
	if n["audio"] > 0 {
		audio = sum["audio"] / n["audio"]
	}
	return video, audio
}

// timeline is one line per second since the first phase: the phase, what
// getStats says (frame width, decoder fps, frames decoded in that second,
// freezes and pauses so far, kbit/s received, packets lost), what the page
// presented (frames, width) and what the SFU says (estimate, layer/target).
func (r *linkRecorder) timeline(phases []linkPhase) []string {
	start := phases[0].Start
	end := phases[len(phases)-1].End
	// width, fps, dec/s, freezes, pauses, kbps (video received), lost:
	// getStats; shown/s and its width: frames the page presented;
	// estimate (kbps) and layer/target: the SFU.
	lines := []string{"   t  phase          width  fps  dec/s  freezes(s)  pauses  kbps  lost  shown/s width  estimate  layer/target"}
	var prev *linkSample
	si, fi, ei := 0, 0, 0
	for sec := start; sec.Before(end); sec = sec.Add(time.Second) {
		next := sec.Add(time.Second)
		phase, mid := "", sec.Add(time.Second/2)
		for _, ph := range phases {
			if !mid.Before(ph.Start) && mid.Before(ph.End) {
				phase = ph.Name
			}
		}
		var last *linkSample
		for ; si < len(r.samples) && r.samples[si].time().Before(next); si++ {
			if !r.samples[si].time().Before(sec) {
				last = &r.samples[si]
			}
		}
		shown, shownW := 0, int64(0)
		for ; fi < len(r.frames) && time.UnixMilli(r.frames[fi][0]).Before(next); fi++ {
			if !time.UnixMilli(r.frames[fi][0]).Before(sec) {
				shown++
				shownW = r.frames[fi][1]
			}
		}
		var ss *sfuSample
		for ; ei < len(r.sfu) && r.sfu[ei].At.Before(next); ei++ {
			if !r.sfu[ei].At.Before(sec) {
				ss = &r.sfu[ei]
			}
		}
		line := fmt.Sprintf("%4.0f  %-13s", sec.Sub(start).Seconds(), phase)
		if last != nil && prev != nil {
			dt := last.time().Sub(prev.time()).Seconds()
			line += fmt.Sprintf("  %5d %4.0f  %5d  %3d(%4.1f)  %6d  %4.0f  %4d", last.FrameWidth, last.FramesPerSecond,
				last.FramesDecoded-prev.FramesDecoded, last.FreezeCount, last.TotalFreezesDuration, last.PauseCount,
				float64(last.BytesReceived-prev.BytesReceived)*8/1000/dt, last.PacketsLost-prev.PacketsLost)
		} else {
			line += fmt.Sprintf("  %5s %4s  %5s  %9s  %6s  %4s  %4s", "-", "-", "-", "-", "-", "-", "-")
		}
		line += fmt.Sprintf("  %7d %5d", shown, shownW)
		if ss != nil {
			layer := ss.Layer
			if layer == "" {
				layer = "PAUSED"
			}
			line += fmt.Sprintf("  %8d  %s/%s", ss.EstimateBps/1000, layer, ss.Target)
		}
		lines = append(lines, line)
		if last != nil {
			prev = last
		}
	}
	return lines
}
