package loadbot

import (
	"context"
	"os"
	"testing"

	"github.com/surgertc/surge/sfu"
)

func TestSelftestPasses(t *testing.T) {
	s := startSFU(t)
	v, err := Selftest(context.Background(), SelftestConfig{
		URL: s.URL(), MetricsURL: s.AdminURL() + "/metrics",
		Only: []string{SelftestCrowd, SelftestJoinStorm, SelftestWeakLink},
	}, quietLogger(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 3 {
		t.Fatalf("want 3 verdicts, got %d", len(v))
	}
	for _, x := range v {
		if x.Passed {
			continue
		}
		sum := x.Report.Summary
		if raceEnabled && x.Name != SelftestWeakLink && sum.Bots.Failed == 0 && sum.LossPct < 1 {
			// Latency and freezes measure the race detector here.
			t.Logf("%s: %s (tolerated under -race)", x.Name, x.Why)
			continue
		}
		t.Errorf("%s failed: %s (%s)", x.Name, x.Why, x.Figures)
	}
}

func TestSelftestTURNJoinStorm(t *testing.T) {
	s := startSFU(t, func(c *sfu.Config) {
		c.TURN.Enabled = true
		c.TURN.UDPAddr, c.TURN.TCPAddr, c.TURN.TLSAddr = "127.0.0.1:0", "127.0.0.1:0", ""
	})
	v, err := Selftest(context.Background(), SelftestConfig{
		URL: s.URL(), MetricsURL: s.AdminURL() + "/metrics", Only: []string{SelftestTURN},
	}, quietLogger(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 || !v[0].Passed {
		t.Fatalf("turn scenario: %+v", v)
	}
}
