package loadbot

import (
	"context"
	"testing"
	"time"
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
