package web_test

// These tests drive the demo page in a real Chromium (headless, fake camera
// and microphone) against an in-process SFU on loopback, and check each
// claim from both ends: what the page's getStats says and what the SFU's
// Snapshot says. They share one browser and one call, step by step, so the
// whole suite costs one Chromium start; a failed step skips the rest.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/surgertc/surge/loadbot"
	"github.com/surgertc/surge/loadbot/report"
	"github.com/surgertc/surge/sfu"
)

// room follows loadbot's room naming (RoomPrefix "browser", room 0), so
// loadbot's subscriber bots can join the browsers' call.
const room = "browser-0"

// Resolution of each simulcast layer from Chromium's 1280×720 fake camera.
var layerWidth = map[string]int{"q": 320, "h": 640, "f": 1280}

func TestBrowserCall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium; not in -short")
	}
	began := time.Now()
	b := startBrowser(t)
	s := startSFU(t)
	sn := sniffHellos(t, s)
	base := "http://" + strings.TrimSuffix(strings.TrimPrefix(s.URL(), "ws://"), "/rtc")

	alice := b.open(t, "alice", base+"/?room="+room+"&name=alice")
	join(t, alice)
	bob := b.open(t, "bob", base+"/?room="+room+"&name=bob")
	join(t, bob)

	var aliceVideo, aliceAudio string // track ids of alice's tracks, as bob receives them
	var chromiumSRTP []uint16         // the SRTP profiles Chromium offered, from the wire
	// A step marked alone leaves the call as it found it, so the steps
	// after it still run when it fails; any other failure ends the test.
	steps := []struct {
		name  string
		alone bool
		run   func(t *testing.T)
	}{
		{"publishes_three_simulcast_layers", false, func(t *testing.T) {
			var layers []sfu.LayerSnapshot
			alice.waitFor(t, 45*time.Second, "the SFU to receive q, h and f from alice", func() string {
				v := publishedVideo(s, "alice")
				if v == nil {
					return "no video track published"
				}
				layers = v.Layers
				for _, rid := range []string{"q", "h", "f"} {
					if !slices.ContainsFunc(v.Layers, func(l sfu.LayerSnapshot) bool { return l.RID == rid && l.Live }) {
						return fmt.Sprintf("layer %s not live: %+v", rid, v.Layers)
					}
				}
				return ""
			})
			for _, l := range layers {
				t.Logf("SFU receives layer %s at %d kb/s (%d frames)", l.RID, l.BitrateBps/1000, l.Frames)
			}
			// The encoder's side: each layer at its nominal size.
			alice.waitFor(t, 20*time.Second, "alice to encode 320, 640 and 1280 wide", func() string {
				st := alice.stats(t)
				for _, o := range st.Publisher.Outbound {
					if o.Kind == "video" && o.FrameWidth != layerWidth[o.RID] {
						return fmt.Sprintf("rid %s is %dx%d (%s)", o.RID, o.FrameWidth, o.FrameHeight, o.QualityLimitationReason)
					}
				}
				return ""
			})
			for _, o := range alice.stats(t).Publisher.Outbound {
				if o.Kind != "video" {
					continue
				}
				t.Logf("alice sends %s %s: %dx%d %.0f fps %d kb/s, encoder %s, limited by %s", o.Kind, o.RID, o.FrameWidth, o.FrameHeight, o.FramesPerSecond, o.Bitrate/1000, o.EncoderImplementation, o.QualityLimitationReason)
			}
		}},
		{"subscriber_decodes_top_layer_and_audio", false, func(t *testing.T) {
			// Both ends must agree, for two seconds in a row: the SFU
			// forwards f and the decoder outputs 1280 wide. The SFU may
			// step down early in the call (the publisher's f layer ramps
			// up in bursts, each layer switch is a keyframe burst) and
			// comes back up after simulcast.up_hold.
			start := time.Now()
			var since time.Time
			bob.waitFor(t, 45*time.Second, "bob to decode alice's f layer at 1280 wide for 2 s", func() string {
				st := bob.stats(t)
				_, aliceVideo, aliceAudio = st.peer("alice")
				v := st.inbound(aliceVideo)
				if v == nil {
					since = time.Time{}
					return "no inbound video from alice yet"
				}
				sub := subscription(s, "bob", aliceVideo)
				if v.FramesDecoded == 0 || v.FrameWidth != 1280 || sub == nil || sub.Layer != "f" {
					since = time.Time{}
					return fmt.Sprintf("frames decoded %d, width %d, SFU subscription %+v, estimate %d", v.FramesDecoded, v.FrameWidth, sub, st.BandwidthBps)
				}
				if since.IsZero() {
					since = time.Now()
				}
				if time.Since(since) < 2*time.Second {
					return "on f for less than 2 s"
				}
				return ""
			})
			t.Logf("bob on f and decoding 1280 wide for 2 s, %s after the join", time.Since(start).Round(time.Millisecond))
			logEvents(t, bob, "layer", "bandwidth")
			before := bob.stats(t)
			// Sampled through the window so that a stall says where it
			// began: the publisher's encoder, the SFU's upstream layers or
			// the forwarding to bob.
			var timeline []string
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
				timeline = append(timeline, stallSample(t, s, alice, bob, aliceVideo))
			}
			after := bob.stats(t)
			v0, v1 := before.inbound(aliceVideo), after.inbound(aliceVideo)
			a0, a1 := before.inbound(aliceAudio), after.inbound(aliceAudio)
			if a0 == nil || a1 == nil {
				t.Fatalf("bob receives no audio from alice (track %q)", aliceAudio)
			}
			if v1.FramesDecoded <= v0.FramesDecoded {
				t.Errorf("video frames decoded stuck at %d", v1.FramesDecoded)
				for _, l := range timeline {
					t.Log(l)
				}
				logEvents(t, bob, "layer", "bandwidth")
			}
			if a1.TotalSamplesReceived <= a0.TotalSamplesReceived {
				t.Errorf("audio samples received stuck at %d", a1.TotalSamplesReceived)
			}
			t.Logf("bob decodes alice: video %dx%d, %d→%d frames in 2 s, %d kb/s, %d/%d packets lost, decoder %s; audio %d→%d samples",
				v1.FrameWidth, v1.FrameHeight, v0.FramesDecoded, v1.FramesDecoded, v1.Bitrate/1000, v1.PacketsLost, v1.PacketsReceived, v1.DecoderImplementation, a0.TotalSamplesReceived, a1.TotalSamplesReceived)
			if v1.FrameWidth != 1280 {
				t.Errorf("bob decodes alice %d wide, want 1280 (layer f)", v1.FrameWidth)
			}
			logNegotiation(t, alice, bob)
			if sn != nil {
				// Chromium is the DTLS client on both sides; the SFU
				// must choose GCM although Chromium lists AES-CM first.
				ports := []uint16{candidatePort(alice.stats(t).Publisher.Transport.Local), candidatePort(bob.stats(t).Subscriber.Transport.Local)}
				chromiumSRTP = checkHellos(t, sn, "Chromium", ports, nil)
			}
		}},
		{"layer_cap_lowers_and_restores_resolution", false, func(t *testing.T) {
			for _, layer := range []string{"q", "f"} {
				var id string
				bob.mustEval(t, fmt.Sprintf("window.surge.cap('alice', %q)", layer), &id)
				if id != aliceVideo {
					t.Fatalf("cap touched track %q, want %q", id, aliceVideo)
				}
				start := time.Now()
				bob.waitFor(t, 20*time.Second, "frame width "+fmt.Sprint(layerWidth[layer]), func() string {
					st := bob.stats(t)
					v := st.inbound(aliceVideo)
					if v == nil || v.FrameWidth != layerWidth[layer] {
						return fmt.Sprintf("stats %+v", v)
					}
					if l := st.Layers[aliceVideo]; l.Layer != layer {
						return fmt.Sprintf("last layer event %+v", l)
					}
					return ""
				})
				sub := subscription(s, "bob", aliceVideo)
				if sub == nil || sub.MaxLayer != layer || sub.Layer != layer {
					t.Errorf("SFU subscription after cap %s: %+v", layer, sub)
				}
				t.Logf("cap %s: bob decodes %d wide after %s", layer, layerWidth[layer], time.Since(start).Round(10*time.Millisecond))
			}
		}},
		{"loadbot_subscribers_receive_browser_tracks", true, func(t *testing.T) {
			var mark int
			if sn != nil {
				mark = len(sn.seen())
			}
			runLoadbotSubscribers(t, s)
			if sn != nil && chromiumSRTP != nil {
				// loadbot's default --srtp browser must offer what
				// Chromium offered, so bots negotiate what browsers do.
				checkHellos(t, sn, "loadbot", clientPorts(sn.seen()[mark:]), chromiumSRTP)
			}
		}},
		{"reload_rejoins_cleanly", false, func(t *testing.T) {
			var seen int
			bob.mustEval(t, "window.surge.events.length", &seen)
			alice.do(t, chromedp.Reload())
			join(t, alice)
			bob.waitFor(t, 20*time.Second, "bob to see alice leave and come back", func() string {
				var evs []struct {
					Type     string `json:"type"`
					Identity string `json:"identity"`
				}
				bob.mustEval(t, fmt.Sprintf("window.surge.events.slice(%d)", seen), &evs)
				var got []string
				for _, e := range evs {
					if e.Identity == "alice" && strings.HasPrefix(e.Type, "participant_") {
						got = append(got, e.Type)
					}
				}
				if !slices.Equal(got, []string{"participant_left", "participant_joined"}) {
					return fmt.Sprintf("alice's events: %v", got)
				}
				return ""
			})
			for _, r := range s.Snapshot() {
				if r.Name != room {
					continue
				}
				n := 0
				for _, p := range r.Participants {
					if p.Identity == "alice" {
						n++
					}
				}
				if n != 1 {
					t.Errorf("SFU has %d participants named alice, want 1: %+v", n, r.Participants)
				}
			}
			// The rejoined alice publishes new tracks; bob decodes them.
			bob.waitFor(t, 30*time.Second, "bob to decode the rejoined alice", func() string {
				st := bob.stats(t)
				_, v, _ := st.peer("alice")
				in := st.inbound(v)
				if v == "" || v == aliceVideo || in == nil || in.FramesDecoded == 0 {
					return fmt.Sprintf("video track %q (old %q): %+v", v, aliceVideo, in)
				}
				return ""
			})
		}},
		{"screenshot_two_participants", false, func(t *testing.T) {
			alice.waitFor(t, 20*time.Second, "two playing tiles on alice's page", func() string {
				var widths []int
				alice.mustEval(t, "[...document.querySelectorAll('.tile video')].map((v) => v.videoWidth)", &widths)
				if len(widths) != 2 || slices.Contains(widths, 0) {
					return fmt.Sprintf("video widths %v", widths)
				}
				return ""
			})
			time.Sleep(1500 * time.Millisecond) // a stats refresh, so the captions show numbers
			ctx, cancel := context.WithTimeout(alice.ctx, 20*time.Second)
			defer cancel()
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(artifactDir(t), "demo-two-participants.png")
			if err := os.WriteFile(path, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot of the demo page with two participants: %s", path)
		}},
		{"subscribe_only_page_receives", true, func(t *testing.T) {
			// Without camera permission Chromium hides its host addresses
			// behind mDNS .local names; the SFU must still connect (it
			// learns the address from the browser's STUN checks).
			carol := b.open(t, "carol", base+"/?room="+room+"&name=carol&publish=0")
			join(t, carol)
			carol.waitFor(t, 20*time.Second, "carol to decode alice", func() string {
				st := carol.stats(t)
				_, v, _ := st.peer("alice")
				if in := st.inbound(v); in == nil || in.FramesDecoded == 0 {
					return fmt.Sprintf("inbound %+v", in)
				}
				return ""
			})
			var cands []string
			carol.mustEval(t, `window.surge.client.subscriber.getStats().then((r) => [...r.values()].filter((s) => s.type === 'local-candidate').map((c) => c.candidateType + ' ' + c.protocol + ' ' + c.address))`, &cands)
			t.Logf("carol (no camera) local candidates: %v; pair %s", cands, carol.stats(t).Subscriber.Transport.Local)
			carol.do(t, chromedp.Click(chromedp.CSS("#leave"), chromedp.NodeVisible))
		}},
	}
	for _, st := range steps {
		if !t.Run(st.name, st.run) && !st.alone {
			t.Fatalf("step %s failed; skipping the steps after it", st.name)
		}
	}
	t.Logf("browser suite ran in %s", time.Since(began).Round(time.Millisecond))
}

// logEvents logs the page's received events of the given types.
func logEvents(t *testing.T, p *page, types ...string) {
	var evs []map[string]any
	p.mustEval(t, "window.surge.events", &evs)
	for _, e := range evs {
		if slices.Contains(types, fmt.Sprint(e["type"])) {
			t.Logf("%s got %v", p.name, e)
		}
	}
}

// join clicks Join (a user gesture, so the page may play audio) and waits
// until the page is in the room and, if its publish box is ticked, its
// publisher connection is up.
func join(t *testing.T, p *page) {
	t.Helper()
	p.do(t, chromedp.Click(chromedp.CSS("#join"), chromedp.NodeVisible))
	var publish bool
	p.mustEval(t, "document.querySelector('#publish').checked", &publish)
	p.waitFor(t, 20*time.Second, "join and a connected publisher", func() string {
		st := p.stats(t)
		if !st.Joined || (publish && (st.Publisher == nil || st.Publisher.State != "connected")) {
			return fmt.Sprintf("joined %v, publisher %+v", st.Joined, st.Publisher)
		}
		return ""
	})
}

func startSFU(t *testing.T, mutate ...func(*sfu.Config)) *sfu.Server {
	t.Helper()
	cfg := sfu.DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr, cfg.RTC.UDPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DrainTimeout = time.Second
	for _, m := range mutate {
		m(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("SURGE_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	s, err := sfu.NewServer(cfg, sfu.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// artifactDir is $SURGE_ARTIFACTS (CI uploads it), else the temp directory.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("SURGE_ARTIFACTS")
	if dir == "" {
		return os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func participant(s *sfu.Server, identity string) *sfu.ParticipantSnapshot {
	for _, r := range s.Snapshot() {
		if r.Name != room {
			continue
		}
		for i := range r.Participants {
			if r.Participants[i].Identity == identity {
				return &r.Participants[i]
			}
		}
	}
	return nil
}

func publishedVideo(s *sfu.Server, identity string) *sfu.TrackSnapshot {
	p := participant(s, identity)
	if p == nil {
		return nil
	}
	for i := range p.Published {
		if p.Published[i].Kind == "video" {
			return &p.Published[i]
		}
	}
	return nil
}

// stallSample is one line of what each stage of alice's video looks like now:
// her encoder per RID, the SFU's upstream layers, bob's subscription and
// decoder.
func stallSample(t *testing.T, s *sfu.Server, alice, bob *page, trackID string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s alice sends", time.Now().Format("15:04:05.000"))
	if st := alice.stats(t); st.Publisher != nil {
		for _, o := range st.Publisher.Outbound {
			if o.Kind == "video" {
				fmt.Fprintf(&b, " %s:%dx%d/%d frames/%s", o.RID, o.FrameWidth, o.FrameHeight, o.FramesEncoded, o.QualityLimitationReason)
			}
		}
	}
	b.WriteString("; SFU receives")
	if tr := publishedVideo(s, "alice"); tr != nil {
		for _, l := range tr.Layers {
			fmt.Fprintf(&b, " %s:%d bps/%d frames/live %v/key %d ms ago", l.RID, l.BitrateBps, l.Frames, l.Live, l.LastKeyframeMsAgo)
		}
	}
	if sub := subscription(s, "bob", trackID); sub != nil {
		fmt.Fprintf(&b, "; bob's subscription layer %q target %q max %q", sub.Layer, sub.Target, sub.MaxLayer)
	}
	if p := participant(s, "bob"); p != nil {
		fmt.Fprintf(&b, " estimate %d", p.EstimateBps)
	}
	if v := bob.stats(t).inbound(trackID); v != nil {
		fmt.Fprintf(&b, "; bob decodes %dx%d, %d frames, %d packets, %d lost", v.FrameWidth, v.FrameHeight, v.FramesDecoded, v.PacketsReceived, v.PacketsLost)
	}
	return b.String()
}

func subscription(s *sfu.Server, identity, trackID string) *sfu.SubscriptionSnapshot {
	p := participant(s, identity)
	if p == nil {
		return nil
	}
	for i := range p.Subscribed {
		if p.Subscribed[i].TrackID == trackID {
			return &p.Subscribed[i]
		}
	}
	return nil
}

// runLoadbotSubscribers joins two loadbot subscriber bots to the browsers'
// room for a few seconds: Pion peers receiving what Chromium encodes, through
// the same forwarding path, measured by loadbot's own statistics.
func runLoadbotSubscribers(t *testing.T, s *sfu.Server) {
	cfg := loadbot.DefaultConfig()
	cfg.URL = s.URL()
	cfg.SFUMetricsURL = s.AdminURL() + "/metrics"
	cfg.InstanceID = "web"
	cfg.RoomPrefix = strings.TrimSuffix(room, "-0")
	cfg.Rooms, cfg.Publishers, cfg.Subscribers = 1, 0, 2
	cfg.Duration = 6 * time.Second
	cfg.Grace = 5 * time.Second
	cfg.JoinTimeout = 10 * time.Second
	r, err := loadbot.NewRunner(cfg, loadbot.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	_ = report.WriteTable(&table, &res.Report)
	sc := bufio.NewScanner(strings.NewReader(table.String()))
	for sc.Scan() {
		t.Log(sc.Text())
	}
	for _, w := range res.Warnings {
		t.Logf("loadbot warning: %s", w)
	}
	sum := res.Report.Summary
	if sum.Bots.Connected != 2 || sum.Bots.Failed != 0 {
		t.Fatalf("loadbot bots: %+v, failures %v", sum.Bots, sum.JoinFailures)
	}
	for _, rm := range res.Report.Rooms {
		for _, bot := range rm.Bots {
			t.Logf("bot %s: %d frames, loss %.2f%%, latency p50 %.1f ms, layers %+v", bot.ID, bot.Frames, bot.LossPct, bot.LatencyMs.P50, bot.Layers)
			if bot.Frames == 0 {
				t.Errorf("bot %s received no video frames from the browsers", bot.ID)
			}
			// Loopback loses nothing; a little slack for a CPU-starved
			// two-core machine running Chromium, the SFU and -race.
			if bot.LossPct > 2 {
				t.Errorf("bot %s lost %.2f%% of packets", bot.ID, bot.LossPct)
			}
		}
	}
}
