package metrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterNode registers the series that describe the node itself:
// surge_build_info{version,go,pion} (always 1, for joining on version in
// queries and dashboards) and surge_ready (1 while the node accepts joins,
// 0 once draining: what /readyz says, for alerting). ready is read at
// scrape time.
func RegisterNode(reg prometheus.Registerer, version string, ready func() bool) {
	if reg == nil {
		return
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "surge_build_info", Help: "The running build: its version, Go version and pion/webrtc version; always 1.",
		ConstLabels: prometheus.Labels{"version": version, "go": runtime.Version(), "pion": PionVersion()},
	})
	info.Set(1)
	readyGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "surge_ready", Help: "1 while the node accepts joins (/readyz 200), 0 once it drains.",
	}, func() float64 {
		if ready() {
			return 1
		}
		return 0
	})
	reg.MustRegister(info, readyGauge)
}

// PionVersion is the pion/webrtc module version linked in, "unknown" when
// the binary carries no module information.
func PionVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/pion/webrtc/v3" || dep.Path == "github.com/pion/webrtc/v4" {
				// A replacement by another module version names that
				// version; one by a directory ("(devel)": third_party's patched copy
				// of the required version) has none, and the required
				// version is what it is a copy of.
				if dep.Replace != nil && dep.Replace.Version != "" && dep.Replace.Version != "(devel)" {
					return dep.Replace.Version
				}
				return dep.Version
			}
		}
	}
	return "unknown"
}
