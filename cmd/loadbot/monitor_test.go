package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgertc/surge/loadbot"
	"github.com/surgertc/surge/metrics"
)

// TestAlertRulesCheckAndFire runs promtool over the example alert rules and
// their unit tests, and checks that every loadbot_probe_* series the rules
// use is one the monitor exports.
func TestAlertRulesCheckAndFire(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("SURGE_REQUIRE_PROMTOOL") == "1" {
			t.Fatal("promtool not found and SURGE_REQUIRE_PROMTOOL=1")
		}
		t.Skip("promtool not installed")
	}
	for _, args := range [][]string{
		{"check", "rules", "loadbot-alerts.yml"},
		{"test", "rules", "loadbot-alerts.test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "../../configs"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
	rules, err := os.ReadFile("../../configs/loadbot-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics.NewProbe(reg, nil)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, mf := range mfs {
		exported[mf.GetName()] = true
	}
	for _, name := range regexp.MustCompile(`loadbot_probe_[a-z_]+`).FindAllString(string(rules), -1) {
		if !exported[name] {
			t.Errorf("the rules use %s, which the monitor does not export", name)
		}
	}
}

func TestMonitorOnceExitCodes(t *testing.T) {
	s := startTestSFU(t)
	url := strings.TrimSuffix(s.URL(), "/rtc") // the bare host:port, as users type it
	var out, errb bytes.Buffer
	code := execute([]string{"monitor", "--once", "--url", url, "--window", "300ms", "--slo-p99-latency-ms", "0"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("live SFU: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	var pr loadbot.ProbeResult
	if err := json.Unmarshal(out.Bytes(), &pr); err != nil || pr.Result != metrics.ProbeOK || pr.Frames == 0 {
		t.Fatalf("stdout must be one JSON line of a passed probe: %v %q", err, out.String())
	}
	out.Reset()
	code = execute([]string{"monitor", "--once", "--url", "ws://127.0.0.1:1", "--window", "100ms"}, &out, &errb)
	if code != exitProbeFailed {
		t.Fatalf("dead SFU: exit %d, want %d", code, exitProbeFailed)
	}
	if err := json.Unmarshal(out.Bytes(), &pr); err != nil || pr.FailedStage != metrics.StageWSConnect {
		t.Fatalf("dead SFU: %v %+v", err, pr)
	}
}
