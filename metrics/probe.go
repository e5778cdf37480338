package metrics

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Probe stages, in the order a join passes them. The label set is fixed,
// so a monitor that runs for months exports the same series throughout.
const (
	StageWSConnect  = "ws_connect"  // WebSocket to the SFU open
	StageJoin       = "join"        // join answered (token accepted, room entered)
	StageICE        = "ice"         // ICE and DTLS connected
	StageFirstFrame = "first_frame" // the subscriber rendered a first frame
)

// ProbeStages lists the stages in order.
var ProbeStages = []string{StageWSConnect, StageJoin, StageICE, StageFirstFrame}

// Probe results.
const (
	ProbeOK          = "ok"
	ProbeSLOBreached = "slo_breached"
	ProbeFailed      = "failed"
)

// ProbeSLONames are the SLOs a probe may breach (loadbot/report's breach
// names), so loadbot_probe_slo_breaches_total starts at 0 for each.
var ProbeSLONames = []string{"p99_latency_ms", "loss_pct", "join_failure_pct", "freezes_per_min", "jitter_ms",
	"p99_join_ms", "p99_time_to_first_frame_ms", "sfu_cpu_headroom_pct"}

// ProbeObservation is one probe's outcome as the monitor measured it.
type ProbeObservation struct {
	At time.Time
	// FailedStage is the first stage not reached; empty when all were.
	FailedStage string
	// Reached holds, per stage of ProbeStages, when it was reached from
	// the start of the join; 0 when it was not.
	Reached                [4]time.Duration
	LatencyP50, LatencyP99 time.Duration
	LossRatio              float64
	Jitter                 time.Duration
	Freezes                int
	LayerQ, LayerH, LayerF float64 // shares of video time
	SLOPassed              bool
	Breaches               []string
	Duration               time.Duration // the whole probe, join to leave
	LatencyMeasured        bool
}

// Probe holds `loadbot monitor`'s collectors.
type Probe struct {
	runs          *prometheus.CounterVec
	stages        *prometheus.CounterVec
	success       prometheus.Gauge
	failedStage   *prometheus.GaugeVec
	stageSeconds  *prometheus.GaugeVec
	latency       *prometheus.GaugeVec
	loss          prometheus.Gauge
	jitter        prometheus.Gauge
	freezes       prometheus.Gauge
	layer         *prometheus.GaugeVec
	sloPassed     prometheus.Gauge
	breaches      *prometheus.CounterVec
	lastRun       prometheus.Gauge
	probeDuration prometheus.Gauge
}

// NewProbe builds the loadbot_probe_* collectors and registers them on
// reg (nil: not registered). Gauges describe the latest probe; counters
// add up over all probes, for rates and ratios in alerts.
func NewProbe(reg prometheus.Registerer, constLabels prometheus.Labels) *Probe {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: constLabels})
	}
	gaugeVec := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: constLabels}, labels)
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: constLabels}, labels)
	}
	p := &Probe{
		runs:          counterVec("loadbot_probe_runs_total", "Probes run, by result: ok, slo_breached (joined, quality out of SLO), failed (a stage failed).", "result"),
		stages:        counterVec("loadbot_probe_stage_total", "Probe join stages, by stage and result (ok or failed); stages after a failed one are not counted.", "stage", "result"),
		success:       gauge("loadbot_probe_success", "1 if the latest probe passed every stage, else 0."),
		failedStage:   gaugeVec("loadbot_probe_failed_stage", "1 for the stage the latest probe failed at, 0 for the others.", "stage"),
		stageSeconds:  gaugeVec("loadbot_probe_stage_seconds", "When the latest probe reached each stage, from the start of its join (the slower of publisher and subscriber); NaN if not reached.", "stage"),
		latency:       gaugeVec("loadbot_probe_latency_seconds", "One-way media latency of the latest probe, publisher capture to subscriber arrival; NaN if not measured.", "quantile"),
		loss:          gauge("loadbot_probe_loss_ratio", "Packets lost after retransmission over packets expected, latest probe."),
		jitter:        gauge("loadbot_probe_jitter_seconds", "RFC 3550 interarrival jitter, latest probe."),
		freezes:       gauge("loadbot_probe_freezes", "Video freezes during the latest probe's window."),
		layer:         gaugeVec("loadbot_probe_layer_share", "Share of the latest probe's video time on each simulcast layer.", "layer"),
		sloPassed:     gauge("loadbot_probe_slo_passed", "1 if the latest probe met every SLO, else 0."),
		breaches:      counterVec("loadbot_probe_slo_breaches_total", "Probes that breached each SLO.", "slo"),
		lastRun:       gauge("loadbot_probe_last_run_timestamp_seconds", "Unix time the latest probe ended: alert when it stops moving."),
		probeDuration: gauge("loadbot_probe_duration_seconds", "How long the latest probe took, join to leave."),
	}
	for _, r := range []string{ProbeOK, ProbeSLOBreached, ProbeFailed} {
		p.runs.WithLabelValues(r)
	}
	for _, s := range ProbeStages {
		p.stages.WithLabelValues(s, "ok")
		p.stages.WithLabelValues(s, "failed")
		p.failedStage.WithLabelValues(s)
		p.stageSeconds.WithLabelValues(s).Set(math.NaN())
	}
	for _, n := range ProbeSLONames {
		p.breaches.WithLabelValues(n)
	}
	p.latency.WithLabelValues("0.5").Set(math.NaN())
	p.latency.WithLabelValues("0.99").Set(math.NaN())
	if reg != nil {
		reg.MustRegister(p.runs, p.stages, p.success, p.failedStage, p.stageSeconds, p.latency, p.loss, p.jitter,
			p.freezes, p.layer, p.sloPassed, p.breaches, p.lastRun, p.probeDuration)
	}
	return p
}

// Observe records one probe.
func (p *Probe) Observe(o ProbeObservation) {
	result := ProbeOK
	switch {
	case o.FailedStage != "":
		result = ProbeFailed
	case !o.SLOPassed:
		result = ProbeSLOBreached
	}
	p.runs.WithLabelValues(result).Inc()
	failedSeen := false
	for i, s := range ProbeStages {
		fail := 0.0
		switch {
		case failedSeen:
			p.stageSeconds.WithLabelValues(s).Set(math.NaN())
		case s == o.FailedStage:
			failedSeen, fail = true, 1
			p.stages.WithLabelValues(s, "failed").Inc()
			p.stageSeconds.WithLabelValues(s).Set(math.NaN())
		default:
			p.stages.WithLabelValues(s, "ok").Inc()
			p.stageSeconds.WithLabelValues(s).Set(o.Reached[i].Seconds())
		}
		p.failedStage.WithLabelValues(s).Set(fail)
	}
	p.success.Set(b2f(o.FailedStage == ""))
	p.sloPassed.Set(b2f(o.SLOPassed))
	for _, b := range o.Breaches {
		p.breaches.WithLabelValues(b).Inc()
	}
	if o.LatencyMeasured {
		p.latency.WithLabelValues("0.5").Set(o.LatencyP50.Seconds())
		p.latency.WithLabelValues("0.99").Set(o.LatencyP99.Seconds())
	} else {
		p.latency.WithLabelValues("0.5").Set(math.NaN())
		p.latency.WithLabelValues("0.99").Set(math.NaN())
	}
	p.loss.Set(o.LossRatio)
	p.jitter.Set(o.Jitter.Seconds())
	p.freezes.Set(float64(o.Freezes))
	p.layer.WithLabelValues("q").Set(o.LayerQ)
	p.layer.WithLabelValues("h").Set(o.LayerH)
	p.layer.WithLabelValues("f").Set(o.LayerF)
	p.lastRun.Set(float64(o.At.UnixNano()) / 1e9)
	p.probeDuration.Set(o.Duration.Seconds())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
