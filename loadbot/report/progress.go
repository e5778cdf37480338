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
}

// ProgressLine renders p as one terminal line without a newline, fixed
// widths so that rewriting it in place (\r) does not leave debris.
func ProgressLine(p Progress) string {
	cpu := "  n/a"
	if p.SFUCPUCores >= 0 {
		cpu = fmt.Sprintf("%5.2f", p.SFUCPUCores)
	}
	return fmt.Sprintf("[%7s] bots %5d/%-5d failed %4d  latency p50 %7.1fms p99 %7.1fms  loss %6.2f%%  sfu cpu %s cores",
		p.Elapsed.Truncate(time.Second), p.BotsUp, p.BotsTarget, p.JoinsFailed,
		p.LatencyP50Ms, p.LatencyP99Ms, p.LossPct, cpu)
}
