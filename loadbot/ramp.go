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
	// MaxBisectSteps bounds the steps that, after the first breach, halve
	// the gap between the last load that held and the first that broke,
	// until they are one room or one subscriber per room apart (0: none).
	MaxBisectSteps int
}

// Validate bounds the ramp: it always ends after MaxSteps + MaxBisectSteps.
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
	case rc.MaxBisectSteps < 0 || rc.MaxBisectSteps > 20:
		return fmt.Errorf("%w: max_bisect_steps must be in [0, 20]", ErrConfig)
	}
	return nil
}

// Ramp starts at the configured load and adds a step at a time until a
// step breaks the SLO or a limit is reached. After the first breach it
// bisects between the last load that held and the first that broke (bots
// leave or join to reach the load in between), so the capacity it reports
// is known to one room or one subscriber per room. Each step is judged on
// its own interval, so an early quiet step does not dilute a later bad one.
func (r *Runner) Ramp(ctx context.Context, rc RampConfig) (*Result, error) {
	if err := rc.Validate(); err != nil {
		return nil, err
	}
	if r.cfg.Share.Of > 1 {
		return nil, fmt.Errorf("%w: a ramp runs in one process; coordinated runs hold one load", ErrConfig)
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
	grown := report.Load{Rooms: plan.Start.Rooms + plan.Add.Rooms, Publishers: plan.Start.Publishers, Subscribers: plan.Start.Subscribers + plan.Add.Subscribers}
	addBots := grown.Bots() - plan.Start.Bots()
	perStep := rc.StepDuration + time.Duration(float64(addBots)/r.cfg.JoinRate*float64(time.Second))
	return r.runSteps(ctx, "ramp", func(m *measure) error {
		var steps []report.Step
		var loads []report.Load
		run := func(load report.Load, phase string, left int) bool {
			m.mu.Lock()
			m.step = stepProgress{n: len(steps) + 1, max: rc.MaxSteps + rc.MaxBisectSteps, phase: phase,
				ends: time.Now().Add(perStep), perStep: perStep, left: left}
			m.mu.Unlock()
			st, ok := m.runStep(ctx, rc, load, len(steps)+1)
			if !ok {
				return false
			}
			st.Phase = phase
			steps = append(steps, st)
			loads = append(loads, load)
			m.mu.Lock()
			m.rampSteps = steps
			m.mu.Unlock()
			r.log.Info("ramp step", "step", st.Step, "phase", phase, "bots", load.Bots(), "passed", st.Passed)
			return true
		}
		for ctx.Err() == nil {
			dec, load := report.NextStep(plan, steps)
			if dec != report.Continue {
				r.log.Info("ramp ends", "decision", dec.String(), "steps", len(steps))
				break
			}
			if !run(load, report.PhaseRamp, rc.MaxSteps-len(steps)-1+rc.MaxBisectSteps) {
				return nil // a step cut short is not judged
			}
		}
		n := len(steps)
		if n < 2 || steps[n-1].Passed || !steps[n-2].Passed {
			return nil // nothing broke, or not even the first step held
		}
		good, bad := loads[n-2], loads[n-1]
		for i := 0; i < rc.MaxBisectSteps && ctx.Err() == nil; i++ {
			mid, ok := report.Bisect(good, bad)
			if !ok {
				break
			}
			if !run(mid, report.PhaseBisect, rc.MaxBisectSteps-i-1) {
				return nil
			}
			if steps[len(steps)-1].Passed {
				good = mid
			} else {
				bad = mid
			}
		}
		return nil
	})
}

// runStep takes the session to load and measures it for StepDuration.
// ok is false when ctx ended first.
func (m *measure) runStep(ctx context.Context, rc RampConfig, load report.Load, n int) (report.Step, bool) {
	m.sess.resize(ctx, load, m.r.cfg.Grace)
	before := m.sess.aggregate()
	from := time.Now()
	t := time.NewTimer(rc.StepDuration)
	select {
	case <-ctx.Done():
		t.Stop()
		return report.Step{}, false
	case <-t.C:
	}
	after := m.sess.aggregate()
	interval := after.Sub(&before)
	sum := m.stepSummary(load, &interval, from, time.Now())
	sum.SLO.Passed, sum.SLO.Breaches = report.Evaluate(m.r.cfg.SLO.report(), sum)
	return report.NewStep(n, load, sum), true
}

// stepSummary is the report.Summary of one step's interval: the fields
// report.Evaluate and report.NewStep read. report.Build needs whole-run
// track snapshots, so this small adapter fills the summary from the
// interval aggregate instead. Joins are the step's own bots': those of its
// load, connected or failed.
func (m *measure) stepSummary(load report.Load, a *stats.Aggregate, from, to time.Time) report.Summary {
	var s report.Summary
	connected, failed := m.sess.activeBots()
	s.Bots = report.Bots{Target: load.Bots(), Connected: connected, Failed: failed}
	s.LatencyMs = report.Latency{
		P50: msOf(a.Latency.Quantile(0.5)), P95: msOf(a.Latency.Quantile(0.95)),
		P99: msOf(a.Latency.Quantile(0.99)), Max: msOf(a.Latency.Max()),
	}
	s.LossPct = math.Round(a.LossPct()*1000) / 1000
	s.JitterMs = math.Round(a.JitterMs()*100) / 100
	s.Freezes = report.Freezes{Count: a.FreezeCount, TotalS: a.FreezeDuration.Seconds(), PerMin: a.FreezesPerMinute()}
	if m.scraper != nil {
		s.SFU = m.scraper.window(from, to)
	}
	return s
}

func msOf(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
