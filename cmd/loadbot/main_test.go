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
)

func TestScenarioFileAndFlagsResolve(t *testing.T) {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	addScenarioFlags(fs)
	if err := fs.Parse([]string{"--config", "../../configs/loadbot.yaml", "--rooms", "7", "--downlink-kbps", "400"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(fs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rooms != 7 || cfg.Subscribers != 10 || cfg.Duration != time.Minute || cfg.Link.DownlinkKbps != 400 || cfg.Link.QueueMs != 200 {
		t.Fatalf("flags must override the file, the file the defaults: %+v", cfg)
	}
	if len(cfg.Layers) != 3 || cfg.Layers[2].BitrateKbps != 1700 || cfg.APIKey == "" {
		t.Fatalf("layers or dev key: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
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
