package loadbot

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/surgertc/surge/loadbot/stats"
	"github.com/surgertc/surge/sfu"
	"github.com/surgertc/surge/sfu/signal"
)

// drainMidRun starts two SFUs behind one redirecting front (a config for
// it returned) that sends joins to the first, then, 2 s in, to the second
// while the first drains: every session the run has then is lost and must
// reconnect. The second SFU is returned.
func drainMidRun(t *testing.T) (Config, *sfu.Server) {
	t.Helper()
	a := startSFU(t)
	b := startSFU(t)
	var target atomic.Pointer[string]
	first := a.URL()
	target.Store(&first)
	front := redirector(t, func() string { return *target.Load() })
	cfg := testConfig(a)
	cfg.URL = wsURL(front)
	cfg.SFUMetricsURL = ""
	go func() {
		time.Sleep(2 * time.Second)
		next := b.URL()
		target.Store(&next)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = a.Drain(ctx)
	}()
	return cfg, b
}

// redirector answers every join with a redirect to target(), as a node
// that does not hold the room does.
func redirector(t *testing.T, target func() string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if _, _, err := c.Read(ctx); err != nil {
			return
		}
		data, _ := json.Marshal(signal.Message{Type: signal.TypeRedirect, URL: target(), Room: "x"})
		_ = c.Write(ctx, websocket.MessageText, data)
		_ = c.Close(websocket.StatusNormalClosure, "")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func wsURL(s *httptest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") + "/rtc" }

func TestBotsFollowRedirects(t *testing.T) {
	s := startSFU(t)
	front := redirector(t, s.URL)
	cfg := testConfig(s)
	cfg.URL = wsURL(front)
	cfg.Duration = 2 * time.Second
	res := runWithin(t, cfg)
	sum := res.Report.Summary
	if sum.Bots.Connected != 3 || sum.Redirects != 3 {
		t.Fatalf("bots %+v, redirects %d, failures %v", sum.Bots, sum.Redirects, sum.JoinFailures)
	}
	for _, b := range res.Report.Rooms[0].Bots {
		if b.Redirects != 1 || b.SignalURL != s.URL() {
			t.Errorf("%s: %d redirects, ended on %s", b.ID, b.Redirects, b.SignalURL)
		}
		if b.Role == "subscriber" && b.Frames == 0 {
			t.Errorf("%s: no media after the redirect", b.ID)
		}
	}
}

func TestRedirectLoopIsBounded(t *testing.T) {
	var loop *httptest.Server
	loop = redirector(t, func() string { return wsURL(loop) })
	cfg := DefaultConfig()
	cfg.URL = wsURL(loop)
	cfg.SFUMetricsURL = ""
	cfg.Rooms, cfg.Publishers, cfg.Subscribers = 1, 1, 1
	cfg.Duration, cfg.Grace, cfg.JoinRate = time.Second, 3*time.Second, 50
	res := runWithin(t, cfg)
	if got := res.Report.Summary.JoinFailures[stats.FailRedirect]; got != 2 {
		t.Fatalf("want 2 joins failed with %q after %d hops, got %v", stats.FailRedirect, cfg.MaxRedirects, res.Report.Summary.JoinFailures)
	}
}

// A session the server ends (here: the SFU drains) is joined again, and
// the gap is measured and reported.
func TestLostSessionsReconnect(t *testing.T) {
	cfg, b := drainMidRun(t)
	cfg.Duration = 6 * time.Second
	res := runWithin(t, cfg)
	sum := res.Report.Summary
	if sum.Reconnects != 3 || sum.ReconnectedBots != 3 || sum.MediaLostBots != 0 || res.Dropped["server_draining"] != 3 {
		t.Fatalf("reconnects %d (%d bots), lost %d, dropped %v", sum.Reconnects, sum.ReconnectedBots, sum.MediaLostBots, res.Dropped)
	}
	for _, bot := range res.Report.Rooms[0].Bots {
		if bot.SignalURL != b.URL() || bot.Redirects != 2 {
			t.Errorf("%s: on %s after %d redirects", bot.ID, bot.SignalURL, bot.Redirects)
		}
		if bot.Role == "subscriber" && (bot.MediaGapMs <= 0 || bot.MediaGapMs > 4000) {
			t.Errorf("%s: media gap %.0f ms", bot.ID, bot.MediaGapMs)
		}
	}
	t.Logf("media gap p50 %.0f ms, p99 %.0f ms", sum.MediaGapMs.P50, sum.MediaGapMs.P99)
}
