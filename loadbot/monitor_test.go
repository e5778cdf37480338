package loadbot

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu"
)

// sfuOnPort runs an SFU whose signaling listens on addr (so that it can be
// stopped and started again at the same address, as an operator restarts
// `surge serve`).
func sfuOnPort(t *testing.T, addr string) *sfu.Server {
	t.Helper()
	cfg := sfu.DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr, cfg.RTC.UDPAddr = addr, "127.0.0.1:0", "127.0.0.1:0"
	cfg.DrainTimeout = 200 * time.Millisecond
	s, err := sfu.NewServer(cfg, sfu.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("SFU on %s did not start: %v", addr, err)
	}
	return s
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func monitorConfig(addr string) (Config, MonitorConfig) {
	cfg := DefaultConfig()
	cfg.URL = "ws://" + addr // no path: /rtc is appended
	cfg.SFUMetricsURL = ""
	cfg.JoinTimeout = 5 * time.Second
	cfg.Grace = 3 * time.Second
	cfg.JoinRate = 100
	mc := DefaultMonitorConfig()
	mc.Window, mc.Interval = 300*time.Millisecond, 50*time.Millisecond
	return cfg, mc
}

// gaugeValue is the value of the series name{labels...} (name, value
// pairs); a counter's too.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				match = match && have[labels[i]] == labels[i+1]
			}
			if match {
				if m.Gauge != nil {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s%q", name, labels)
	return 0
}

// TestMonitorFollowsTheSFU: probes succeed against a live SFU, fail at the
// WebSocket stage once it is stopped (the metric names the stage), and
// recover when it is back.
func TestMonitorFollowsTheSFU(t *testing.T) {
	addr := freeAddr(t)
	s := sfuOnPort(t, addr)
	defer func() { _ = s.Close() }()
	cfg, mc := monitorConfig(addr)
	reg := prometheus.NewRegistry()
	var lines bytes.Buffer
	mo, err := NewMonitor(cfg, mc, quietLogger(), metrics.NewProbe(reg, nil), &lines)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	expectOK := func(when string) {
		t.Helper()
		pr, err := mo.ProbeOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pr.Result == metrics.ProbeFailed || pr.Frames == 0 || pr.StagesMs[metrics.StageFirstFrame] <= 0 || pr.LatencyMs.P50 <= 0 {
			t.Fatalf("%s: probe %+v", when, pr)
		}
		if v := gaugeValue(t, reg, "loadbot_probe_success"); v != 1 {
			t.Fatalf("%s: loadbot_probe_success %v", when, v)
		}
	}
	expectOK("live SFU")

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	pr, err := mo.ProbeOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Result != metrics.ProbeFailed || pr.FailedStage != metrics.StageWSConnect || pr.Reason != "ws_dial" {
		t.Fatalf("stopped SFU: probe %+v", pr)
	}
	if gaugeValue(t, reg, "loadbot_probe_success") != 0 ||
		gaugeValue(t, reg, "loadbot_probe_failed_stage", "stage", metrics.StageWSConnect) != 1 ||
		gaugeValue(t, reg, "loadbot_probe_failed_stage", "stage", metrics.StageICE) != 0 ||
		gaugeValue(t, reg, "loadbot_probe_runs_total", "result", metrics.ProbeFailed) != 1 {
		t.Fatal("the metrics do not say which stage failed")
	}

	s = sfuOnPort(t, addr)
	expectOK("restarted SFU")
	if n := gaugeValue(t, reg, "loadbot_probe_stage_total", "stage", metrics.StageWSConnect, "result", "failed"); n != 1 {
		t.Fatalf("ws_connect failed once in all, got %v", n)
	}
	if n := gaugeValue(t, reg, "loadbot_probe_stage_total", "stage", metrics.StageFirstFrame, "result", "ok"); n != 2 {
		t.Fatalf("first_frame reached twice, got %v", n)
	}
	// One JSON object per probe, one per line.
	got := strings.Split(strings.TrimSpace(lines.String()), "\n")
	if len(got) != 3 {
		t.Fatalf("%d JSON lines, want 3", len(got))
	}
	var mid ProbeResult
	if err := json.Unmarshal([]byte(got[1]), &mid); err != nil || mid.FailedStage != metrics.StageWSConnect {
		t.Fatalf("line 2: %v %+v", err, mid)
	}
}

// TestMonitorRunsManyProbesWithoutLeaking runs hundreds of short probes
// through the monitor's loop, against a live SFU and a dead one, and
// checks that goroutines and heap do not grow with them.
func TestMonitorRunsManyProbesWithoutLeaking(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	addr := freeAddr(t)
	s := sfuOnPort(t, addr)
	cfg, mc := monitorConfig(addr)
	mc.Window, mc.Interval = 5*time.Millisecond, time.Millisecond
	cfg.JoinRate = MaxJoinRate
	reg := prometheus.NewRegistry()
	pm := metrics.NewProbe(reg, nil)
	ctx := context.Background()
	run := func(n int, url string) {
		t.Helper()
		c := cfg
		c.URL = url
		mc.Iterations = n
		mo, err := NewMonitor(c, mc, quietLogger(), pm, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		st := time.Now()
		if _, err := mo.Run(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d probes at %s: %v", n, url, time.Since(st))
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	live, dead := 15, 250
	if raceEnabled {
		live = 8
	}
	run(5, "ws://"+addr) // warm up: pools, the first API
	h0, g0 := heap(), runtime.NumGoroutine()
	run(live, "ws://"+addr)
	run(dead, "ws://127.0.0.1:1") // nothing listens: every probe fails at ws_connect
	run(live, "ws://"+addr)
	h1, g1 := heap(), runtime.NumGoroutine()
	t.Logf("heap %d → %d KiB, goroutines %d → %d", h0>>10, h1>>10, g0, g1)
	if g1 > g0+5 {
		t.Errorf("goroutines grew from %d to %d over %d probes", g0, g1, 2*live+dead)
	}
	// A leak of one PeerConnection or report per probe would add
	// megabytes over these probes; allow for GC noise only.
	if h1 > h0+8<<20 {
		t.Errorf("heap grew from %d to %d KiB over %d probes", h0>>10, h1>>10, 2*live+dead)
	}
	if ok := gaugeValue(t, reg, "loadbot_probe_runs_total", "result", metrics.ProbeOK) + gaugeValue(t, reg, "loadbot_probe_runs_total", "result", metrics.ProbeSLOBreached); ok < float64(2*live) {
		t.Errorf("%v probes ok, want %d", ok, 2*live)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
