package loadbot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/surgertc/surge/loadbot/report"
	"github.com/surgertc/surge/metrics"
)

// MonitorConfig says how often and how long `loadbot monitor` probes.
type MonitorConfig struct {
	// Interval is from the start of one probe to the start of the next;
	// a probe that overruns it delays the next instead of overlapping.
	Interval time.Duration
	// Window is how long the probe pair measures media once joined.
	Window time.Duration
	// Room is the probe room's name prefix (the room is <room>-0).
	Room string
	// Iterations ends the monitor after that many probes (0: until ctx
	// ends); --once is 1.
	Iterations int
}

// DefaultMonitorConfig probes every 30 s for 5 s.
func DefaultMonitorConfig() MonitorConfig {
	return MonitorConfig{Interval: 30 * time.Second, Window: 5 * time.Second, Room: "probe"}
}

// ProbeResult is one probe, as written to the JSON lines.
type ProbeResult struct {
	Time   time.Time `json:"time"`
	Result string    `json:"result"` // ok, slo_breached or failed
	// FailedStage is the first stage not reached (ws_connect, join, ice,
	// first_frame), Reason why (ws_dial, unauthorized, ice_timeout, ...)
	// and Bot which bot (publisher or subscriber).
	FailedStage string `json:"failed_stage,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Bot         string `json:"bot,omitempty"`
	// StagesMs is when each stage was reached from the start of the
	// join, the slower of the two bots; absent stages were not reached.
	StagesMs           map[string]float64 `json:"stages_ms"`
	LatencyMs          report.P50P99Max   `json:"latency_ms"`
	LatencyNote        string             `json:"latency_note,omitempty"`
	LossPct            float64            `json:"loss_pct"`
	JitterMs           float64            `json:"jitter_ms"`
	Freezes            int                `json:"freezes"`
	Frames             uint64             `json:"frames"`
	Layer              string             `json:"layer"` // the layer received most of the window
	Layers             report.Layers      `json:"layers"`
	TimeToFirstFrameMs float64            `json:"time_to_first_frame_ms"`
	SLO                report.Verdict     `json:"slo"`
	DurationS          float64            `json:"duration_s"`
	Warnings           []string           `json:"warnings,omitempty"`
}

// Monitor runs probe pairs against a deployment, one after another.
type Monitor struct {
	cfg Config
	mc  MonitorConfig
	log *slog.Logger
	m   *metrics.Probe
	out io.Writer
	mu  sync.Mutex // one probe's JSON line at a time
}

// NewMonitor validates cfg (the SFU, key, media and SLO parts; rooms and
// bots are the probe pair's) and mc. Results go to m and, as JSON lines,
// to out (either may be nil).
func NewMonitor(cfg Config, mc MonitorConfig, log *slog.Logger, m *metrics.Probe, out io.Writer) (*Monitor, error) {
	if mc.Interval <= 0 || mc.Window <= 0 || mc.Iterations < 0 {
		return nil, fmt.Errorf("%w: monitor interval and window must be positive", ErrConfig)
	}
	if mc.Room == "" {
		mc.Room = "probe"
	}
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = metrics.NewProbe(nil, nil)
	}
	cfg.Rooms, cfg.Publishers, cfg.Subscribers = 1, 1, 1
	cfg.RoomPrefix = mc.Room
	cfg.Duration = mc.Window // the window starts once both bots are in
	cfg.Share = Share{}
	if cfg.InstanceID == "" {
		cfg.InstanceID = "monitor-" + RandomInstanceID()
	}
	if _, err := NewRunner(cfg); err != nil {
		return nil, err
	}
	return &Monitor{cfg: cfg, mc: mc, log: log, m: m, out: out}, nil
}

// Run probes every Interval until ctx ends or Iterations are done, and
// returns the last probe's result.
func (mo *Monitor) Run(ctx context.Context) (ProbeResult, error) {
	t := time.NewTicker(mo.mc.Interval)
	defer t.Stop()
	var last ProbeResult
	for i := 0; mo.mc.Iterations == 0 || i < mo.mc.Iterations; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return last, nil
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return last, nil
		}
		var err error
		if last, err = mo.ProbeOnce(ctx); err != nil {
			return last, err
		}
	}
	return last, nil
}

// ProbeOnce runs one probe, exports it and writes its JSON line.
func (mo *Monitor) ProbeOnce(ctx context.Context) (ProbeResult, error) {
	r, err := NewRunner(mo.cfg, WithLogger(mo.log))
	if err != nil {
		return ProbeResult{}, err
	}
	started := time.Now()
	res, err := r.runSettled(ctx, "monitor", mo.mc.Window)
	if err != nil {
		return ProbeResult{}, err
	}
	pr, obs := probeResult(&res.Report, time.Since(started))
	pr.Warnings = res.Warnings
	mo.m.Observe(obs)
	if pr.Result != metrics.ProbeOK {
		mo.log.Warn("probe", "result", pr.Result, "stage", pr.FailedStage, "reason", pr.Reason, "breaches", breachList(pr.SLO))
	}
	if mo.out != nil {
		mo.mu.Lock()
		err = json.NewEncoder(mo.out).Encode(pr)
		mo.mu.Unlock()
	}
	return pr, err
}

// probeResult reads a probe's outcome off the run's report. The failed
// stage is the first stage a bot did not reach: a join that failed says
// where; a subscriber that joined but rendered no frame fails at
// first_frame.
func probeResult(rep *report.Report, took time.Duration) (ProbeResult, metrics.ProbeObservation) {
	s := rep.Summary
	pr := ProbeResult{
		Time: rep.EndedAt, StagesMs: map[string]float64{},
		LatencyMs:   report.P50P99Max{P50: s.LatencyMs.P50, P99: s.LatencyMs.P99, Max: s.LatencyMs.Max},
		LatencyNote: s.LatencyNote, LossPct: s.LossPct, JitterMs: s.JitterMs, Freezes: s.Freezes.Count,
		Layers: s.Layers, TimeToFirstFrameMs: s.TimeToFirstFrameMs.P50, SLO: s.SLO, DurationS: took.Seconds(),
	}
	obs := metrics.ProbeObservation{At: rep.EndedAt, SLOPassed: s.SLO.Passed, Duration: took,
		LatencyP50: fromMs(s.LatencyMs.P50), LatencyP99: fromMs(s.LatencyMs.P99), LossRatio: s.LossPct / 100,
		Jitter: fromMs(s.JitterMs), Freezes: s.Freezes.Count, LayerQ: s.Layers.Q, LayerH: s.Layers.H, LayerF: s.Layers.F,
		LatencyMeasured: s.LatencyMs.Max > 0}
	for _, b := range s.SLO.Breaches {
		obs.Breaches = append(obs.Breaches, b.Name)
	}
	pr.Layer = dominantLayer(s.Layers)
	failed := len(metrics.ProbeStages)
	var bots []report.Bot
	for _, room := range rep.Rooms {
		bots = append(bots, room.Bots...)
	}
	if len(bots) < 2 {
		// A probe cut short before both bots started.
		pr.FailedStage, pr.Reason = metrics.StageWSConnect, "canceled"
		failed = 0
	}
	for _, b := range bots {
		st := b.JoinStagesMs
		reached := []float64{st.WSOpen, st.Joined, st.ICEConnected, b.TimeToFirstFrameMs}
		if b.Role == "publisher" {
			reached[3] = st.FirstMedia // a publisher's last stage is sending
		} else {
			pr.Frames = b.Frames
		}
		for i, v := range reached {
			if v <= 0 || (i == 3 && b.Role != "publisher" && b.Frames == 0) {
				if i < failed {
					failed, pr.Bot = i, b.Role
					pr.Reason = b.JoinFailure
					if pr.Reason == "" {
						pr.Reason = "no_frame"
					}
				}
				break
			}
			name := metrics.ProbeStages[i]
			if v > pr.StagesMs[name] {
				pr.StagesMs[name] = v
				obs.Reached[i] = fromMs(v)
			}
		}
	}
	switch {
	case failed < len(metrics.ProbeStages):
		pr.FailedStage = metrics.ProbeStages[failed]
		pr.Result = metrics.ProbeFailed
		for i := failed; i < len(metrics.ProbeStages); i++ {
			delete(pr.StagesMs, metrics.ProbeStages[i])
			obs.Reached[i] = 0
		}
	case !s.SLO.Passed:
		pr.Result = metrics.ProbeSLOBreached
	default:
		pr.Result = metrics.ProbeOK
	}
	obs.FailedStage = pr.FailedStage
	return pr, obs
}

func dominantLayer(l report.Layers) string {
	switch {
	case l.Q == 0 && l.H == 0 && l.F == 0:
		return ""
	case l.F >= l.H && l.F >= l.Q:
		return "f"
	case l.H >= l.Q:
		return "h"
	}
	return "q"
}

func breachList(v report.Verdict) []string {
	out := make([]string, 0, len(v.Breaches))
	for _, b := range v.Breaches {
		out = append(out, b.Name)
	}
	return out
}

func fromMs(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
