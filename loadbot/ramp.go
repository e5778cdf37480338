package loadbot

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/surgertc/surge/loadbot/report"
	"github.com/surgertc/surge/loadbot/stats"
)

// RampConfig grows the load of Config step by step.
type RampConfig struct {
	StepRooms       int           // rooms added per step
	StepSubscribers int           // subscribers added per room per step
	StepDuration    time.Duration // measured time per step, after its joins
	MaxSteps        int
	MaxBots         int // 0: MaxBotsPerProcess
}

// Validate bounds the ramp: it always ends after MaxSteps.
func (rc RampConfig) Validate() error {
	switch {
	case rc.StepRooms < 0 || rc.StepSubscribers < 0 || rc.StepRooms+rc.StepSubscribers == 0:
		return fmt.Errorf("%w: a ramp needs step_rooms or step_subscribers", ErrConfig)
	case rc.StepDuration <= 0:
		return fmt.Errorf("%w: step_duration must be positive", ErrConfig)
	case rc.MaxSteps < 1 || rc.MaxSteps > 100:
		return fmt.Errorf("%w: max_steps must be in [1, 100]", ErrConfig)
	case rc.MaxBots < 0 || rc.MaxBots > MaxBotsPerProcess:
		return fmt.Errorf("%w: max_bots must be at most %d per process", ErrConfig, MaxBotsPerProcess)
	}
	return nil
}

// Ramp starts at the configured load and adds a step at a time until a
// step breaks the SLO or a limit is reached; the report lists the steps
// and the capacity: the last step that held. Each step is judged on its
// own interval, so an early quiet step does not dilute a later bad one.
func (r *Runner) Ramp(ctx context.Context, rc RampConfig) (*Result, error) {
	if err := rc.Validate(); err != nil {
		return nil, err
	}
	maxBots := rc.MaxBots
	if maxBots == 0 {
		maxBots = MaxBotsPerProcess
	}
	plan := report.Ramp{
		Start:    report.Load{Rooms: r.cfg.Rooms, Publishers: r.cfg.Publishers, Subscribers: r.cfg.Subscribers},
		Add:      report.Load{Rooms: rc.StepRooms, Subscribers: rc.StepSubscribers},
		MaxBots:  maxBots,
		MaxSteps: rc.MaxSteps,
	}
	return r.runSteps(ctx, "ramp", func(m *measure) error {
		var steps []report.Step
		for ctx.Err() == nil {
			dec, load := report.NextStep(plan, steps)
			if dec != report.Continue {
				r.log.Info("ramp ends", "decision", dec.String(), "steps", len(steps))
				return nil
			}
			m.sess.grow(ctx, load, m.sess.plan(load))
			before := m.sess.aggregate()
			sfuBefore := m.sfuCPUSeconds()
			t := time.NewTimer(rc.StepDuration)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil // a step cut short is not judged
			case <-t.C:
			}
			after := m.sess.aggregate()
			interval := after.Sub(&before)
			sum := m.stepSummary(load, &interval, sfuBefore)
			sum.SLO.Passed, sum.SLO.Breaches = report.Evaluate(r.cfg.SLO.report(), sum)
			steps = append(steps, report.NewStep(len(steps)+1, load, sum))
			m.mu.Lock()
			m.rampSteps = steps
			m.mu.Unlock()
			r.log.Info("ramp step", "step", len(steps), "bots", load.Bots(), "passed", sum.SLO.Passed)
		}
		return nil
	})
}

// stepSummary is the report.Summary of one step's interval: the fields
// report.Evaluate and report.NewStep read. report.Build needs whole-run
// track snapshots, so this small adapter fills the summary from the
// interval aggregate instead.
func (m *measure) stepSummary(load report.Load, a *stats.Aggregate, sfuBefore report.SFUSample) report.Summary {
	var s report.Summary
	s.Bots = report.Bots{Target: load.Bots(), Connected: int(m.env.up.Load()), Failed: int(m.env.failed.Load())}
	s.LatencyMs = report.Latency{
		P50: msOf(a.Latency.Quantile(0.5)), P95: msOf(a.Latency.Quantile(0.95)),
		P99: msOf(a.Latency.Quantile(0.99)), Max: msOf(a.Latency.Max()),
	}
	s.LossPct = math.Round(a.LossPct()*1000) / 1000
	s.JitterMs = math.Round(a.JitterMs()*100) / 100
	s.Freezes = report.Freezes{Count: a.FreezeCount, TotalS: a.FreezeDuration.Seconds(), PerMin: a.FreezesPerMinute()}
	if after := m.sfuCPUSeconds(); !sfuBefore.At.IsZero() && after.At.After(sfuBefore.At) {
		s.SFU.Scraped = true
		cores, _ := report.CPUCores([]report.SFUSample{sfuBefore, after})
		s.SFU.CPUCores = math.Round(cores*1000) / 1000
	}
	return s
}

// sfuCPUSeconds is the latest SFU CPU sample; zero if none.
func (m *measure) sfuCPUSeconds() report.SFUSample {
	if m.scraper == nil {
		return report.SFUSample{}
	}
	m.scraper.mu.Lock()
	defer m.scraper.mu.Unlock()
	if n := len(m.scraper.samples); n > 0 {
		return m.scraper.samples[n-1]
	}
	return report.SFUSample{}
}

func msOf(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
