package loadbot

import (
	"testing"
	"time"

	"github.com/surgertc/surge/loadbot/report"
)

func TestEstimateOffset(t *testing.T) {
	t0 := time.Unix(1000, 0)
	// The reference runs 5 s ahead; the second exchange is the tightest.
	samples := []ClockSample{
		{Sent: t0, Reference: t0.Add(5*time.Second + 3*time.Millisecond), Received: t0.Add(10 * time.Millisecond)},
		{Sent: t0.Add(time.Second), Reference: t0.Add(6*time.Second + 200*time.Microsecond), Received: t0.Add(time.Second + 400*time.Microsecond)},
		{Sent: t0.Add(2 * time.Second), Reference: t0.Add(7 * time.Second), Received: t0.Add(2*time.Second - time.Millisecond)}, // clock stepped: ignored
	}
	off, unc, ok := EstimateOffset(samples)
	if !ok || off != 5*time.Second || unc != 201*time.Microsecond {
		t.Fatalf("offset %v ± %v ok=%v", off, unc, ok)
	}
	if _, _, ok := EstimateOffset(nil); ok {
		t.Fatal("no samples, no offset")
	}
}

func TestPlanClocks(t *testing.T) {
	agents := []AgentClock{
		{ID: "a0", Host: "h1", HostID: "boot1", Offset: 10 * time.Millisecond, Uncertainty: 100 * time.Microsecond},
		{ID: "a1", Host: "h1", HostID: "boot1", Offset: 10 * time.Millisecond, Uncertainty: 100 * time.Microsecond},
		{ID: "a2", Host: "h2", HostID: "boot2", Offset: -40 * time.Millisecond, Uncertainty: 300 * time.Microsecond},
	}
	sh := Share{Of: 3, Split: SplitBots}
	// Rooms 0, 1, 2 have their publishers on a0, a1, a2.
	got := PlanClocks(agents, 2, 3, sh, "load", time.Millisecond)
	if c := got["load-2"]; c.Source != report.ClockSameProcess || c.Shift != 0 {
		t.Errorf("own room: %+v", c)
	}
	// a0's clock is 50 ms behind a2's: its capture times need +50 ms... in
	// a2's terms capture(a2) = capture(a0) + (10 − (−40)) ms.
	if c := got["load-0"]; c.Source != report.ClockMeasured || c.Shift != 50*time.Millisecond {
		t.Errorf("other host, good offset: %+v", c)
	}
	if c := PlanClocks(agents, 1, 3, sh, "load", time.Millisecond)["load-0"]; c.Source != report.ClockSameHost || c.Shift != 0 {
		t.Errorf("same host: %+v", c)
	}
	// Too inexact, or offsets not allowed at all: absent, with the reason.
	for _, limit := range []time.Duration{300 * time.Microsecond, 0} {
		c := PlanClocks(agents, 2, 3, sh, "load", limit)["load-0"]
		if c.Source != report.ClockAbsent || c.Note == "" {
			t.Errorf("limit %v: %+v", limit, c)
		}
	}
}
