package report

import (
	"fmt"
	"time"
)

// Progress is what the live line shows, filled by the runner each tick.
type Progress struct {
	Elapsed     time.Duration
	BotsUp      int
	BotsTarget  int
	JoinsFailed int
	// Latency over the last interval, in milliseconds.
	LatencyP50Ms, LatencyP99Ms float64
	LossPct                    float64
	// SFUCPUCores is negative when the SFU is not scraped.
	SFUCPUCores float64
	// Step, of MaxSteps, in Phase ("ramp" or "bisect"): ramps only.
	Step, MaxSteps int
	Phase          string
	// ETA is the time left; an upper bound when ETAUpperBound (a ramp
	// may stop at any step).
	ETA           time.Duration
	ETAUpperBound bool
}

// ProgressLine renders p as one terminal line without a newline, fixed
// widths so that rewriting it in place (\r) does not leave debris.
func ProgressLine(p Progress) string {
	cpu := "  n/a"
	if p.SFUCPUCores >= 0 {
		cpu = fmt.Sprintf("%5.2f", p.SFUCPUCores)
	}
	line := fmt.Sprintf("[%7s] bots %5d/%-5d failed %4d  latency p50 %7.1fms p99 %7.1fms  loss %6.2f%%  sfu cpu %s cores",
		p.Elapsed.Truncate(time.Second), p.BotsUp, p.BotsTarget, p.JoinsFailed,
		p.LatencyP50Ms, p.LatencyP99Ms, p.LossPct, cpu)
	if p.Step > 0 {
		line += fmt.Sprintf("  step %3d/%-3d %-6s", p.Step, p.MaxSteps, p.Phase)
	}
	bound := " "
	if p.ETAUpperBound {
		bound = "≤"
	}
	return line + fmt.Sprintf("  eta %s%7s", bound, p.ETA.Round(time.Second))
}
