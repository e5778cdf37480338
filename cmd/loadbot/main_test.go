package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/surgertc/surge/loadbot"
)

func TestScenarioFileAndFlagsResolve(t *testing.T) {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	addScenarioFlags(fs)
	if err := fs.Parse([]string{"--config", "../../configs/loadbot.yaml", "--rooms", "7", "--downlink-kbps", "400", "--scrape-interval", "5s"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(fs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rooms != 7 || cfg.Subscribers != 10 || cfg.Duration != time.Minute || cfg.Link.DownlinkKbps != 400 || cfg.Link.QueueMs != 200 || cfg.ScrapeInterval != 5*time.Second {
		t.Fatalf("flags must override the file, the file the defaults: %+v", cfg)
	}
	if len(cfg.Layers) != 3 || cfg.Layers[2].BitrateKbps != 1700 || cfg.APIKey == "" {
		t.Fatalf("layers or dev key: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestEveryScenarioFlagHasAKey: a flag missing from flagKey parses and is
// then silently ignored.
func TestEveryScenarioFlagHasAKey(t *testing.T) {
	output := map[string]bool{"config": true, "html": true, "json": true, "metrics-addr": true, "verbose": true}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	addScenarioFlags(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		if _, ok := flagKey[f.Name]; !ok && !output[f.Name] {
			t.Errorf("--%s is not bound to a config key", f.Name)
		}
	})
}

func TestExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	if code := execute([]string{"run", "--rooms", "0"}, &out, &errb); code != exitUsage {
		t.Fatalf("bad config: exit %d, want %d (%s)", code, exitUsage, errb.String())
	}
	if code := execute([]string{"run", "--publishers", "0", "--subscribers", "2001"}, &out, &errb); code != exitUsage {
		t.Fatalf("too many bots: exit %d, want %d", code, exitUsage)
	}
	// Nothing listens on port 1: every join fails, the SLO breaks, and
	// the reports are written anyway.
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	out.Reset()
	code := execute([]string{"run", "--url", "ws://127.0.0.1:1/rtc", "--sfu-metrics", "", "--subscribers", "1",
		"--duration", "1s", "--grace", "2s", "--json", jsonPath, "--html", htmlPath}, &out, &errb)
	if code != exitSLOBreached {
		t.Fatalf("unreachable SFU: exit %d, want %d\n%s\n%s", code, exitSLOBreached, out.String(), errb.String())
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Summary struct {
			JoinFailures map[string]int `json:"join_failures"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(data, &rep); err != nil || rep.Summary.JoinFailures["ws_dial"] != 2 {
		t.Fatalf("JSON report: %v %s", err, data)
	}
	if html, err := os.ReadFile(htmlPath); err != nil || !strings.Contains(string(html), "<html") {
		t.Fatalf("HTML report: %v", err)
	}
	if !strings.Contains(out.String(), "SLO") {
		t.Fatalf("no table on stdout: %s", out.String())
	}
}

// TestJSONToStdoutIsOnlyJSON: with --json - a script can pipe stdout
// into jq; the table, progress and warnings go to stderr.
func TestJSONToStdoutIsOnlyJSON(t *testing.T) {
	var out, errb bytes.Buffer
	code := execute([]string{"run", "--url", "ws://127.0.0.1:1", "--sfu-metrics", "http://127.0.0.1:1/metrics", "--subscribers", "1",
		"--duration", "1500ms", "--grace", "2s", "--json", "-"}, &out, &errb)
	if code != exitSLOBreached {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	var rep map[string]any
	dec := json.NewDecoder(&out)
	if err := dec.Decode(&rep); err != nil || dec.More() {
		t.Fatalf("stdout is not exactly one JSON document: %v\n%s", err, out.String())
	}
	for _, want := range []string{"SLO", "bots ", "warning:"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q: %s", want, errb.String())
		}
	}
}

func TestUnknownScenarioKeyIsNamed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(path, []byte("rooms: 2\nsubscriber: 3\nslo:\n  p99_latncy_ms: 100\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := execute([]string{"run", "--config", path}, &out, &errb); code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	for _, key := range []string{"subscriber", "slo.p99_latncy_ms"} {
		if !strings.Contains(errb.String(), key) {
			t.Errorf("error does not name %q: %s", key, errb.String())
		}
	}
}

func TestEverySLOHasAFlagAndAKey(t *testing.T) {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	addScenarioFlags(fs)
	path := filepath.Join(t.TempDir(), "s.yaml")
	yaml := "slo:\n  jitter_ms: 30\n  p99_join_ms: 2000\n  p99_time_to_first_frame_ms: 3000\n  sfu_cpu_headroom_pct: 20\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--config", path, "--slo-p99-latency-ms", "90", "--slo-loss-pct", "0.5",
		"--slo-join-failure-pct", "2", "--slo-freezes-per-min", "0.5", "--slo-jitter-ms", "25"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(fs)
	if err != nil {
		t.Fatal(err)
	}
	want := loadbot.SLO{P99LatencyMs: 90, LossPct: 0.5, JoinFailurePct: 2, FreezesPerMin: 0.5, JitterMs: 25,
		P99JoinMs: 2000, P99FirstFrameMs: 3000, MinSFUHeadroomPct: 20}
	if cfg.SLO != want {
		t.Fatalf("SLO %+v, want %+v", cfg.SLO, want)
	}
	for _, f := range []string{"slo-p99-join-ms", "slo-p99-first-frame-ms", "slo-min-sfu-headroom-pct"} {
		if fs.Lookup(f) == nil {
			t.Errorf("no --%s", f)
		}
	}
}
