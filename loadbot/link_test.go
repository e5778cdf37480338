package loadbot

import (
	"context"
	"testing"
	"time"

	"github.com/surgertc/surge/loadbot/report"
)

// shapedRun runs one publisher and two subscribers, the first subscriber
// behind link, and returns the shaped and the unshaped subscriber's rows.
func shapedRun(t *testing.T, link LinkConfig, d time.Duration) (shaped, plain report.Bot) {
	t.Helper()
	res := runShaped(t, link, d)
	var got int
	for _, b := range res.Report.Rooms[0].Bots {
		if b.Role != "subscriber" {
			continue
		}
		if b.JoinFailure != "" {
			t.Fatalf("bot %s failed to join: %s", b.ID, b.JoinFailure)
		}
		got++
		if b.Shaped {
			shaped = b
		} else {
			plain = b
		}
	}
	if got != 2 || shaped.ID == "" || plain.ID == "" {
		t.Fatalf("want one shaped and one plain subscriber, got %+v", res.Report.Rooms[0].Bots)
	}
	return shaped, plain
}

// runShaped runs one publisher and two subscribers for d, the first
// subscriber behind link.
func runShaped(t *testing.T, link LinkConfig, d time.Duration) *Result {
	t.Helper()
	s := startSFU(t)
	cfg := testConfig(s)
	cfg.Duration = d
	cfg.Link = link
	cfg.ShapedShare = 0.5
	r, err := NewRunner(cfg, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestLinkDelayShowsInMeasuredLatency(t *testing.T) {
	shaped, plain := shapedRun(t, LinkConfig{DelayMs: 100}, 5*time.Second)
	diff := shaped.LatencyMs.P50 - plain.LatencyMs.P50
	t.Logf("p50 latency: shaped %.1f ms, plain %.1f ms, difference %.1f ms", shaped.LatencyMs.P50, plain.LatencyMs.P50, diff)
	if diff < 75 || diff > 125 {
		t.Fatalf("a 100 ms link delay measured as %.1f ms (want 100 ± 25)", diff)
	}
	if shaped.LossPct > 0.5 {
		t.Fatalf("a delay-only link lost %.2f%%", shaped.LossPct)
	}
}

func TestLinkLossIsReported(t *testing.T) {
	shaped, plain := shapedRun(t, LinkConfig{LossPct: 5, NoNACK: true}, 8*time.Second)
	t.Logf("loss: shaped %.2f%%, plain %.2f%%", shaped.LossPct, plain.LossPct)
	if shaped.LossPct < 2.5 || shaped.LossPct > 7.5 {
		t.Fatalf("a 5%% lossy link measured %.2f%% loss (want 5 ± 2.5)", shaped.LossPct)
	}
	if plain.LossPct > 0.5 {
		t.Fatalf("the unshaped subscriber lost %.2f%%", plain.LossPct)
	}
}

func TestShaperRateLimitsAndTailDrops(t *testing.T) {
	// 800 kbps = 100 kB/s: 1000-byte packets (plus 28 of UDP/IP) leave
	// ~10.3 ms apart, and the queue holds 50 ms of them.
	s := newShaper(800, 20, 0, 50, 1)
	now := time.Unix(0, 0)
	var last time.Time
	var dropped int
	for i := 0; i < 20; i++ {
		at, lost, q := s.admit(1000, now)
		if lost {
			t.Fatal("no loss configured")
		}
		if q {
			dropped++
			continue
		}
		last = at
	}
	if dropped == 0 {
		t.Fatal("a burst above the queue limit was not tail-dropped")
	}
	if got := last.Sub(now); got < 50*time.Millisecond || got > 90*time.Millisecond {
		t.Fatalf("last admitted packet leaves after %v, want queue (≤50ms+1 pkt) + 20ms delay", got)
	}
}

// With NACKs on, a lossy link makes the subscriber ask for retransmissions,
// and the report counts them; retransmission then hides most of the loss.
func TestNACKsSentAreCounted(t *testing.T) {
	res := runShaped(t, LinkConfig{LossPct: 5}, 6*time.Second)
	sum := res.Report.Summary
	var shaped report.Bot
	for _, b := range res.Report.Rooms[0].Bots {
		if b.Shaped {
			shaped = b
		}
	}
	t.Logf("5%% lossy link with NACK: nacks sent %d, shaped subscriber's loss after retransmission %.2f%%", sum.NACKsSent, shaped.LossPct)
	if sum.NACKsSent == 0 {
		t.Fatal("a 5% lossy link produced no counted NACKs")
	}
	if shaped.LossPct >= 5 {
		t.Fatalf("retransmission recovered nothing: %.2f%% lost after it on a 5%% lossy link", shaped.LossPct)
	}
}

func TestShaperFlaps(t *testing.T) {
	s := newShaper(0, 0, 0, 200, 1)
	s.flapping(1000, 200)
	if !s.active() {
		t.Fatal("a flapping link must be active")
	}
	base := time.Unix(100, 0) // a whole second: the start of a period
	for _, tt := range []struct {
		at   time.Duration
		lost bool
	}{{0, true}, {199 * time.Millisecond, true}, {200 * time.Millisecond, false}, {999 * time.Millisecond, false}, {1100 * time.Millisecond, true}} {
		if _, lost, _ := s.admit(100, base.Add(tt.at)); lost != tt.lost {
			t.Errorf("at +%s: lost %v, want %v", tt.at, lost, tt.lost)
		}
	}
}
