package report

import "math"

// CPUFit is a least-squares line through the SFU's CPU use against the
// subscribers of each ramp step (rooms × subscribers per room), and where
// it crosses ProjectAtShare of the SFU's cores: a capacity estimate from
// CPU alone, beside the SLO-based one.
type CPUFit struct {
	Points int `json:"points"`
	// SlopeCores is the CPU each extra subscriber costs, in cores.
	SlopeCores     float64 `json:"slope_cores_per_subscriber"`
	InterceptCores float64 `json:"intercept_cores"`
	GOMAXPROCS     int     `json:"gomaxprocs"`
	// ProjectedSubscribers is where the line reaches 80 % of GOMAXPROCS;
	// 0 when the fit cannot say (CPU not growing with load).
	ProjectedSubscribers float64 `json:"projected_subscribers_at_80pct"`
}

// ProjectAtShare is the CPU share the projection is made at: above it a Go
// process's scheduling latency starts to show in forwarding.
const ProjectAtShare = 0.8

// FitCPU fits the steps that scraped the SFU. It returns nil with fewer
// than two such steps at distinct loads or without GOMAXPROCS.
func FitCPU(steps []Step, gomaxprocs int) *CPUFit {
	var xs, ys []float64
	for _, s := range steps {
		if s.SFUScraped {
			xs = append(xs, float64(s.Rooms*s.Subscribers))
			ys = append(ys, s.SFUCPUCores)
		}
	}
	if len(xs) < 2 || gomaxprocs <= 0 {
		return nil
	}
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return nil
	}
	slope := (n*sxy - sx*sy) / den
	icpt := (sy - slope*sx) / n
	f := &CPUFit{Points: len(xs), SlopeCores: round(slope, 6), InterceptCores: round(icpt, 4), GOMAXPROCS: gomaxprocs}
	if slope > 0 {
		f.ProjectedSubscribers = round(math.Max(0, (ProjectAtShare*float64(gomaxprocs)-icpt)/slope), 1)
	}
	return f
}
