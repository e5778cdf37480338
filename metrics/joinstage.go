package metrics

import "github.com/prometheus/client_golang/prometheus"

// JoinStage is how far an admitted join got.
type JoinStage int

// Join stages, in order. A join is admitted when the server sends joined
// (surge_joins_total{result="ok"}); it then has to connect ICE on a
// PeerConnection and get media flowing (the first packet from the
// participant, or forwarded to it). Admission alone is not success: a
// join that stops before media counts as a failure at the stage it missed.
const (
	StageAdmitted JoinStage = iota
	StageICEConnected
	StageFirstMedia
	numJoinStages
)

var joinStageNames = [numJoinStages]string{"admitted", "ice_connected", "first_media"}

// String is the {stage} label value.
func (s JoinStage) String() string {
	if s < 0 || s >= numJoinStages {
		return "unknown"
	}
	return joinStageNames[s]
}

// JoinStages holds the per-stage join collectors.
type JoinStages struct {
	reached  [numJoinStages]prometheus.Counter
	failed   [numJoinStages]prometheus.Counter
	duration [numJoinStages]prometheus.Observer
}

// NewJoinStages builds and registers (on a non-nil reg) the series
// surge_join_stage_total{stage}, surge_join_failures_total{stage} and
// surge_join_stage_seconds{stage}.
func NewJoinStages(reg prometheus.Registerer) *JoinStages {
	reached := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_join_stage_total", Help: "Admitted joins that reached each stage: admitted, ice_connected, first_media.",
	}, []string{"stage"})
	failed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_join_failures_total", Help: "Admitted joins that ended without reaching the stage: ice_connected (negotiated, never connected) or first_media (connected, no media either way).",
	}, []string{"stage"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "surge_join_stage_seconds", Help: "Time from admission to reaching the stage.",
		Buckets: joinBuckets,
	}, []string{"stage"})
	m := &JoinStages{}
	for s := JoinStage(0); s < numJoinStages; s++ {
		m.reached[s] = reached.WithLabelValues(s.String())
		if s != StageAdmitted {
			m.failed[s] = failed.WithLabelValues(s.String())
			m.duration[s] = dur.WithLabelValues(s.String())
		}
	}
	if reg != nil {
		reg.MustRegister(reached, failed, dur)
	}
	return m
}

// Reached counts a join reaching s, after took since admission.
func (m *JoinStages) Reached(s JoinStage, tookSeconds float64) {
	m.reached[s].Inc()
	if m.duration[s] != nil {
		m.duration[s].Observe(tookSeconds)
	}
}

// Failed counts a join that ended before s (s > StageAdmitted).
func (m *JoinStages) Failed(s JoinStage) {
	if m.failed[s] != nil {
		m.failed[s].Inc()
	}
}
