package loadbot

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/surgertc/surge/sfu"
)

func TestRampStepsUntilMaxAndReportsCapacity(t *testing.T) {
	s := startSFU(t)
	cfg := testConfig(s)
	cfg.Subscribers = 1
	r, err := NewRunner(cfg, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Ramp(context.Background(), RampConfig{StepSubscribers: 1, StepDuration: 2 * time.Second, MaxSteps: 2})
	if err != nil {
		t.Fatal(err)
	}
	rep := res.Report
	if len(rep.Steps) != 2 || rep.Steps[1].Bots != 3 || rep.Capacity == nil {
		t.Fatalf("steps %+v capacity %+v", rep.Steps, rep.Capacity)
	}
	if rep.Summary.Bots.Connected != 3 {
		t.Fatalf("bots %+v", rep.Summary.Bots)
	}
	t.Logf("steps: %+v; capacity %+v", rep.Steps, *rep.Capacity)
}

func TestRampConfigIsBounded(t *testing.T) {
	for _, rc := range []RampConfig{
		{StepDuration: time.Second, MaxSteps: 3},
		{StepSubscribers: 1, MaxSteps: 3},
		{StepSubscribers: 1, StepDuration: time.Second},
		{StepSubscribers: 1, StepDuration: time.Second, MaxSteps: 3, MaxBots: MaxBotsPerProcess + 1},
	} {
		if rc.Validate() == nil {
			t.Errorf("%+v accepted", rc)
		}
	}
}

// TestRampBisectsToOneSubscriber: the SFU admits 5 participants per room,
// so the SLO on join failures breaks above 1 publisher + 4 subscribers.
// The ramp steps by 3 subscribers (2, 5, 8 bots), breaks at 8, and
// bisection must find the edge exactly: capacity 5 bots, broken at 6.
func TestRampBisectsToOneSubscriber(t *testing.T) {
	s := startSFU(t, func(c *sfu.Config) { c.Room.MaxParticipants = 5 })
	cfg := testConfig(s)
	cfg.Subscribers = 1
	cfg.SLO = SLO{JoinFailurePct: 1}
	cfg.JoinTimeout = 3 * time.Second
	// Several scrapes per 1 s step, so that every step has a CPU interval
	// of its own even when the race detector slows the scraper down.
	cfg.ScrapeInterval = 200 * time.Millisecond
	var progress bytes.Buffer
	r, err := NewRunner(cfg, WithLogger(quietLogger()), WithProgress(&progress, false))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Ramp(context.Background(), RampConfig{StepSubscribers: 3, StepDuration: time.Second, MaxSteps: 5, MaxBisectSteps: 4})
	if err != nil {
		t.Fatal(err)
	}
	rep := res.Report
	var phases []string
	for _, st := range rep.Steps {
		phases = append(phases, fmt.Sprintf("%s:%d:%v", st.Phase, st.Bots, st.Passed))
	}
	want := []string{"ramp:2:true", "ramp:5:true", "ramp:8:false", "bisect:6:false"}
	if !reflect.DeepEqual(phases, want) {
		t.Fatalf("steps %v, want %v", phases, want)
	}
	if c := rep.Capacity; c == nil || c.Bots != 5 || c.UpperBots != 6 {
		t.Fatalf("capacity %+v", rep.Capacity)
	}
	for _, st := range rep.Steps {
		// The SFU runs in this process, beside the bots and under -race:
		// its busiest interval may take every core, and 0 % headroom is
		// then what was measured. Measured means scraped, CPU seen.
		if !st.SFUScraped || st.SFUCPUCores <= 0 || st.SFUCPUHeadroomPct < 0 || st.SFUCPUHeadroomPct > 100 {
			t.Errorf("step %d: headroom not measured: %+v", st.Step, st)
		}
	}
	// Every bot row is distinct, the bots that left and came back too.
	ids := map[string]bool{}
	for _, room := range rep.Rooms {
		for _, b := range room.Bots {
			if ids[b.ID] {
				t.Fatalf("bot %s twice in the report", b.ID)
			}
			ids[b.ID] = true
		}
	}
	if !strings.Contains(progress.String(), "step   4/9   bisect") || !strings.Contains(progress.String(), "eta ≤") {
		t.Errorf("progress lacks the step and ETA:\n%s", progress.String())
	}
}
