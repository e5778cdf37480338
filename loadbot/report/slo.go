package report

// SLO is the service level a run must hold. A zero limit is not checked,
// so a limit of "no loss at all" is written as a tiny positive number.
type SLO struct {
	MaxP99LatencyMs   float64 `json:"p99_latency_ms"`   // one-way, capture to arrival
	MaxLossPct        float64 `json:"loss_pct"`         // after retransmission
	MaxJoinFailurePct float64 `json:"join_failure_pct"` // failed joins over target bots
	MaxFreezesPerMin  float64 `json:"freezes_per_min"`  // per minute of video received
	MaxJitterMs       float64 `json:"jitter_ms"`
	MaxP99JoinMs      float64 `json:"p99_join_ms"`
	// MaxP99TimeToFirstFrameMs limits subscribers' join to first frame.
	MaxP99TimeToFirstFrameMs float64 `json:"p99_time_to_first_frame_ms"`
	// MinSFUCPUHeadroomPct is checked only when the SFU was scraped.
	MinSFUCPUHeadroomPct float64 `json:"sfu_cpu_headroom_pct"`
}

// Breach names, stable for scripts reading the JSON.
const (
	BreachP99Latency     = "p99_latency_ms"
	BreachLoss           = "loss_pct"
	BreachJoinFailure    = "join_failure_pct"
	BreachFreezes        = "freezes_per_min"
	BreachJitter         = "jitter_ms"
	BreachP99Join        = "p99_join_ms"
	BreachP99FirstFrame  = "p99_time_to_first_frame_ms"
	BreachSFUCPUHeadroom = "sfu_cpu_headroom_pct"
)

// Evaluate checks s against slo. breaches is never nil, so it encodes as
// an empty list rather than null.
func Evaluate(slo SLO, s Summary) (passed bool, breaches []Breach) {
	breaches = []Breach{}
	above := func(name string, limit, actual float64) {
		if limit > 0 && actual > limit {
			breaches = append(breaches, Breach{Name: name, Threshold: limit, Actual: actual})
		}
	}
	above(BreachP99Latency, slo.MaxP99LatencyMs, s.LatencyMs.P99)
	above(BreachLoss, slo.MaxLossPct, s.LossPct)
	above(BreachJoinFailure, slo.MaxJoinFailurePct, round(s.Bots.JoinFailurePct(), 3))
	above(BreachFreezes, slo.MaxFreezesPerMin, s.Freezes.PerMin)
	above(BreachJitter, slo.MaxJitterMs, s.JitterMs)
	above(BreachP99Join, slo.MaxP99JoinMs, s.JoinMs.P99)
	above(BreachP99FirstFrame, slo.MaxP99TimeToFirstFrameMs, s.TimeToFirstFrameMs.P99)
	if slo.MinSFUCPUHeadroomPct > 0 && s.SFU.Scraped && s.SFU.CPUHeadroomPct < slo.MinSFUCPUHeadroomPct {
		breaches = append(breaches, Breach{
			Name: BreachSFUCPUHeadroom, Threshold: slo.MinSFUCPUHeadroomPct, Actual: s.SFU.CPUHeadroomPct,
		})
	}
	return len(breaches) == 0, breaches
}
