package web_test

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/surgertc/surge/sfu"
	"github.com/surgertc/surge/sfu/cluster/redistest"
)

// startClusterNode runs an in-process node of the cluster at redisAddr.
func startClusterNode(t *testing.T, redisAddr, id string) *sfu.Server {
	t.Helper()
	cfg := sfu.DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr, cfg.RTC.UDPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DrainTimeout = time.Second
	cfg.Redis.Addr = redisAddr
	cfg.Node.ID, cfg.Node.HeartbeatInterval, cfg.Node.TTL = id, 250*time.Millisecond, 1500*time.Millisecond
	s, err := sfu.NewServer(cfg, sfu.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// The demo page follows a redirect to the node that holds its room and,
// when that node goes away, reconnects through the page's own node and
// publishes again.
func TestBrowserFollowsRedirectAndReconnects(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium; not in -short")
	}
	r := redistest.Start(t)
	b := startBrowser(t)
	// Equal nodes tie on load and the smaller id wins: a new room joined
	// through n2 (the page's node) is placed on n1, so the join is redirected.
	n1 := startClusterNode(t, r.Addr, "n1")
	n2 := startClusterNode(t, r.Addr, "n2")
	base := "http://" + strings.TrimSuffix(strings.TrimPrefix(n2.URL(), "ws://"), "/rtc")

	alice := b.open(t, "alice", base+"/?room="+room+"&name=alice")
	join(t, alice)
	var url string
	var redirects int
	alice.mustEval(t, "window.surge.client.url", &url)
	alice.mustEval(t, "window.surge.client.redirects", &redirects)
	if url != n1.URL() || redirects != 1 {
		t.Fatalf("page joined at %s after %d redirects; want %s after 1", url, redirects, n1.URL())
	}
	alice.waitFor(t, 20*time.Second, "n1 to receive alice's video", func() string {
		if v := publishedVideo(n1, "alice"); v == nil || len(v.Layers) == 0 || !v.Layers[0].Live {
			return fmt.Sprintf("published %+v", v)
		}
		return ""
	})

	_ = n1.Close() // the room's node goes away
	alice.waitFor(t, 30*time.Second, "the page to reconnect through n2 and publish there", func() string {
		var reconnects int
		alice.mustEval(t, "window.surge.reconnects", &reconnects)
		v := publishedVideo(n2, "alice")
		if reconnects != 1 || v == nil || len(v.Layers) == 0 || !v.Layers[0].Live {
			return fmt.Sprintf("reconnects %d, published on n2 %+v", reconnects, v)
		}
		return ""
	})
	alice.mustEval(t, "window.surge.client.url", &url)
	if url != n2.URL() {
		t.Fatalf("after the reconnect the page is on %s, want %s", url, n2.URL())
	}
}
