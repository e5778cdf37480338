package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds a Chromium to drive: $SURGE_CHROMIUM, else Debian's
// /usr/bin/chromium (what .ci/run installs), else the usual names on PATH.
func chromiumPath() string {
	if p := os.Getenv("SURGE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// chromiumFlags are the flags the tests need, each for a reason:
var chromiumFlags = []chromedp.ExecAllocatorOption{
	chromedp.Flag("headless", "new"), // the full browser, headless; the old headless shell lacks parts of WebRTC
	chromedp.NoSandbox,               // CI containers run as root, where the sandbox cannot start
	chromedp.DisableGPU,              // no GPU in CI; software compositing is enough for video elements
	// A synthetic camera (a 1280×720 test pattern with a moving clock) and
	// a beeping microphone, granted without a permission prompt.
	chromedp.Flag("use-fake-ui-for-media-stream", true),
	chromedp.Flag("use-fake-device-for-media-stream", true),
	// Keep the browser off the network: no QUIC probes, no component or
	// sync downloads. The tests talk to 127.0.0.1 only.
	chromedp.Flag("disable-quic", true),
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.NoFirstRun,
	// Several pages share one browser; none of them may be throttled as a
	// background tab (timers, rendering), or stats and media would stall.
	chromedp.Flag("disable-background-timer-throttling", true),
	chromedp.Flag("disable-renderer-backgrounding", true),
	chromedp.Flag("disable-backgrounding-occluded-windows", true),
	chromedp.WindowSize(1280, 900),
}

// browser is one Chromium process shared by a test's pages (tabs): one
// process costs a few hundred milliseconds of CPU per page instead of
// seconds per browser, which matters on a two-core CI machine.
type browser struct {
	ctx context.Context
}

// startBrowser starts Chromium with a fresh profile, or skips the test when
// no Chromium is installed.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("no Chromium found: install it (Debian: apt-get install chromium) or set SURGE_CHROMIUM to its path")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()))
	opts = append(opts, chromiumFlags...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		bcancel()
		acancel()
	})
	// The first Run starts the process; its context (no timeout) bounds the
	// browser's life, so time limits go on later calls only.
	start := time.Now()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	version, err := chromedp.Run(bctx, chromedp.Evaluate[string]("navigator.userAgent"))
	if err != nil {
		t.Fatalf("ask %s its version: %v", path, err)
	}
	t.Logf("browser: %s (%s), started in %s", path, version, time.Since(start).Round(time.Millisecond))
	return &browser{ctx: bctx}
}

// page is one tab. Its methods take the *testing.T of the (sub)test that
// uses them, because a subtest must not fail its parent.
type page struct {
	name string
	ctx  context.Context

	mu      sync.Mutex
	console []string
}

// open makes a new tab and loads url in it.
func (b *browser) open(t *testing.T, name, url string) *page {
	t.Helper()
	p := &page{name: name}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithListener(p.listen))
	t.Cleanup(cancel)
	p.ctx = ctx
	if err := chromedp.Do(ctx); err != nil { // creates the tab; no timeout, see startBrowser
		t.Fatalf("%s: new tab: %v", name, err)
	}
	p.do(t, chromedp.Navigate(url))
	return p
}

// listen keeps the page's console output, shown when a test fails.
func (p *page) listen(ev any) {
	var line string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		parts := make([]string, 0, len(e.Args))
		for _, a := range e.Args {
			if a.Value != nil {
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			} else {
				parts = append(parts, a.Description)
			}
		}
		line = string(e.Type) + ": " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		line = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			line += " " + e.ExceptionDetails.Exception.Description
		}
	default:
		return
	}
	p.mu.Lock()
	p.console = append(p.console, line)
	p.mu.Unlock()
}

// dump logs what the page said and saw; called when a step fails.
func (p *page) dump(t *testing.T) {
	p.mu.Lock()
	lines := append([]string(nil), p.console...)
	p.mu.Unlock()
	for _, l := range lines {
		t.Logf("%s console: %s", p.name, l)
	}
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	if ev, err := chromedp.Run(ctx, chromedp.Evaluate[string]("JSON.stringify(window.surge && window.surge.events)")); err == nil {
		t.Logf("%s events: %s", p.name, ev)
	}
	if st, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.querySelector('#state').textContent")); err == nil {
		t.Logf("%s state: %s", p.name, st)
	}
}

// do runs actions with a time limit.
func (p *page) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.dump(t)
		t.Fatalf("%s: %v", p.name, err)
	}
}

// eval evaluates a JavaScript expression (awaiting it if it is a promise)
// and decodes its JSON into out. The page serialises with JSON.stringify
// and Go decodes with encoding/json, so the Go structs use ordinary tags.
func (p *page) eval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		fmt.Sprintf("Promise.resolve(%s).then((v) => JSON.stringify(v === undefined ? null : v))", expr),
		chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal([]byte(s), out)
}

// mustEval is eval that fails the test.
func (p *page) mustEval(t *testing.T, expr string, out any) {
	t.Helper()
	if err := p.eval(expr, out); err != nil {
		p.dump(t)
		t.Fatalf("%s: %s: %v", p.name, expr, err)
	}
}

// stats reads window.surge.stats(): the page's getStats summary.
func (p *page) stats(t *testing.T) pageStats {
	t.Helper()
	var s pageStats
	p.mustEval(t, "window.surge.stats()", &s)
	return s
}

// waitFor polls cond every 250 ms until it returns "" (done) or d passes; the
// last reason is in the failure.
func (p *page) waitFor(t *testing.T, d time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			p.dump(t)
			t.Fatalf("%s: timed out after %s waiting for %s: %s", p.name, d, what, why)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// pageStats mirrors what stats.js and app.js return.
type pageStats struct {
	Joined        bool   `json:"joined"`
	ParticipantID string `json:"participantId"`
	Identity      string `json:"identity"`
	Room          string `json:"room"`
	BandwidthBps  int64  `json:"bandwidthBps"`
	Layers        map[string]struct {
		Layer  string `json:"layer"`
		Paused bool   `json:"paused"`
	} `json:"layers"`
	Participants []struct {
		ID           string `json:"id"`
		Identity     string `json:"identity"`
		VideoTrackID string `json:"videoTrackId"`
		AudioTrackID string `json:"audioTrackId"`
	} `json:"participants"`
	Publisher  *pcStats `json:"publisher"`
	Subscriber *pcStats `json:"subscriber"`
}

type pcStats struct {
	State     string `json:"state"`
	Transport *struct {
		DTLSState  string `json:"dtlsState"`
		TLSVersion string `json:"tlsVersion"`
		DTLSCipher string `json:"dtlsCipher"`
		SRTPCipher string `json:"srtpCipher"`
		Local      string `json:"local"`
		Remote     string `json:"remote"`
	} `json:"transport"`
	Outbound []rtpStats `json:"outbound"`
	Inbound  []rtpStats `json:"inbound"`
}

type rtpStats struct {
	Kind                    string  `json:"kind"`
	RID                     string  `json:"rid"`
	TrackID                 string  `json:"trackId"` // the track the m-section carries now (app.js, from the SDP)
	FrameWidth              int     `json:"frameWidth"`
	FrameHeight             int     `json:"frameHeight"`
	FramesPerSecond         float64 `json:"framesPerSecond"`
	FramesEncoded           int64   `json:"framesEncoded"`
	FramesDecoded           int64   `json:"framesDecoded"`
	TotalSamplesReceived    int64   `json:"totalSamplesReceived"`
	Bitrate                 int64   `json:"bitrate"`
	PacketsReceived         int64   `json:"packetsReceived"`
	PacketsLost             int64   `json:"packetsLost"`
	QualityLimitationReason string  `json:"qualityLimitationReason"`
	EncoderImplementation   string  `json:"encoderImplementation"`
	DecoderImplementation   string  `json:"decoderImplementation"`
	RemoteReportsSent       int64   `json:"remoteReportsSent"` // sender reports the browser read for the stream
	Codec                   *struct {
		MimeType    string `json:"mimeType"`
		PayloadType int    `json:"payloadType"`
		SDPFmtpLine string `json:"sdpFmtpLine"`
	} `json:"codec"`
}

// inbound returns the received stream of a track, or nil.
func (s pageStats) inbound(trackID string) *rtpStats {
	if s.Subscriber == nil {
		return nil
	}
	for i := range s.Subscriber.Inbound {
		if s.Subscriber.Inbound[i].TrackID == trackID {
			return &s.Subscriber.Inbound[i]
		}
	}
	return nil
}

// peer returns the remote participant with identity, as the page sees it.
func (s pageStats) peer(identity string) (id, video, audio string) {
	for _, p := range s.Participants {
		if p.Identity == identity {
			return p.ID, p.VideoTrackID, p.AudioTrackID
		}
	}
	return "", "", ""
}
