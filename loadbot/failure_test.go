package loadbot

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/surgertc/surge/loadbot/stats"
	"github.com/surgertc/surge/sfu"
)

// runWithin runs cfg and fails the test if the run outlives its bound.
func runWithin(t *testing.T, cfg Config) *Result {
	t.Helper()
	r, err := NewRunner(cfg, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if took, bound := time.Since(start), cfg.Duration+cfg.Grace; took > bound {
		t.Fatalf("run took %v, bound %v", took, bound)
	}
	return res
}

func TestUnreachableSFUCountsDialFailures(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := DefaultConfig()
	cfg.URL = "ws://127.0.0.1:1/rtc" // nothing listens on port 1
	cfg.SFUMetricsURL = "http://127.0.0.1:1/metrics"
	cfg.Rooms, cfg.Publishers, cfg.Subscribers = 1, 1, 2
	cfg.Duration, cfg.Grace, cfg.JoinRate = 2*time.Second, 3*time.Second, 50
	res := runWithin(t, cfg)
	sum := res.Report.Summary
	if sum.JoinFailures[stats.FailWSDial] != 3 || sum.SLO.Passed {
		t.Fatalf("want 3 ws_dial failures and a breached SLO, got %v passed=%v", sum.JoinFailures, sum.SLO.Passed)
	}
	if sum.SFU.Scraped || len(res.Warnings) == 0 {
		t.Fatalf("an unreachable /metrics must be reported as not scraped: %+v %v", sum.SFU, res.Warnings)
	}
}

func TestWrongKeyCountsUnauthorized(t *testing.T) {
	s := startSFU(t)
	cfg := testConfig(s)
	cfg.APISecret = "not-the-secret"
	cfg.Duration = 2 * time.Second
	res := runWithin(t, cfg)
	if got := res.Report.Summary.JoinFailures["unauthorized"]; got != 3 {
		t.Fatalf("want 3 unauthorized, got %v", res.Report.Summary.JoinFailures)
	}
}

func TestRoomFullCounted(t *testing.T) {
	s := startSFU(t, func(c *sfu.Config) { c.Room.MaxParticipants = 2 })
	cfg := testConfig(s)
	cfg.Subscribers = 3
	cfg.Duration = 3 * time.Second
	res := runWithin(t, cfg)
	sum := res.Report.Summary
	if sum.Bots.Connected != 2 || sum.JoinFailures["room_full"] != 2 {
		t.Fatalf("want 2 connected and 2 room_full, got %+v %v", sum.Bots, sum.JoinFailures)
	}
}

func TestSFUDyingMidRunEndsOnTime(t *testing.T) {
	s := startSFU(t)
	cfg := testConfig(s)
	cfg.Duration = 5 * time.Second
	go func() {
		time.Sleep(2 * time.Second)
		_ = s.Close()
	}()
	res := runWithin(t, cfg)
	if res.Dropped[DropServerGone]+res.Dropped[DropPCFailed]+res.Dropped["server_draining"] == 0 {
		t.Fatalf("want sessions counted as ended by the server, got %v", res.Dropped)
	}
	t.Logf("dropped %v, bots %+v", res.Dropped, res.Report.Summary.Bots)
}

func TestFinishedRunLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := startSFU(t)
	cfg := testConfig(s)
	cfg.Duration = 2 * time.Second
	runWithin(t, cfg)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCanceledRunIsPartial(t *testing.T) {
	s := startSFU(t)
	cfg := testConfig(s)
	cfg.Duration = time.Minute
	r, err := NewRunner(cfg, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Report.Partial || time.Since(start) > 10*time.Second {
		t.Fatalf("partial=%v after %v", res.Report.Partial, time.Since(start))
	}
	if res.Report.Summary.Bots.Connected != 3 {
		t.Fatalf("bots %+v", res.Report.Summary.Bots)
	}
}
