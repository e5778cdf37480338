package configs

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/surgertc/surge/metrics"
)

// knownMetrics is every series name the SFU and loadbot export.
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	metrics.NewSFU(reg)
	metrics.NewCluster(reg)
	metrics.NewJoinStages(reg)
	metrics.NewWebhook(reg)
	metrics.RegisterNode(reg, "test", func() bool { return true })
	lb := prometheus.NewRegistry()
	metrics.NewLoadbot(lb, prometheus.Labels{"instance_id": "t"})
	known := map[string]bool{"up": true}
	for _, r := range []*prometheus.Registry{reg, lb} {
		mfs, err := r.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			known[mf.GetName()] = true
			if mf.GetType().String() == "HISTOGRAM" {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					known[mf.GetName()+suffix] = true
				}
			}
		}
	}
	return known
}

var metricRef = regexp.MustCompile(`\b(?:surge|loadbot|process|go)_[a-z0-9_]+\b|\bup\b`)

// checkExpr fails for every metric name in expr that nothing exports.
func checkExpr(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	// Label names inside {…} and by (…) are not metrics.
	stripped := regexp.MustCompile(`\{[^}]*\}|by \([^)]*\)|on \([^)]*\)`).ReplaceAllString(expr, "")
	for _, name := range metricRef.FindAllString(stripped, -1) {
		if !known[name] {
			t.Errorf("%s uses %s, which neither the SFU nor loadbot exports", where, name)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string            `yaml:"alert"`
			Expr   string            `yaml:"expr"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertRules runs promtool's checks and the unit tests in
// alerts_test.yml. CI sets SURGE_REQUIRE_PROMTOOL=1 (and installs Debian's
// prometheus package), so a missing promtool fails there.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("SURGE_REQUIRE_PROMTOOL") == "1" {
			t.Fatal("promtool not found and SURGE_REQUIRE_PROMTOOL=1: apt-get install prometheus")
		}
		t.Skip("promtool not found (apt-get install prometheus); set SURGE_REQUIRE_PROMTOOL=1 to fail instead")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}, {"check", "config", "prometheus.yml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestAlertsCoverTheIssue: the rules name only real series and include one
// alert for each failure operators asked to be paged on.
func TestAlertsCoverTheIssue(t *testing.T) {
	data, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(data, &rf); err != nil {
		t.Fatal(err)
	}
	known := knownMetrics(t)
	var alerts, slos []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			checkExpr(t, "alert "+r.Alert, r.Expr, known)
			alerts = append(alerts, r.Alert)
			if r.Labels["severity"] == "" {
				t.Errorf("alert %s has no severity", r.Alert)
			}
			if s := r.Labels["slo"]; s != "" {
				slos = append(slos, s)
			}
		}
	}
	for _, want := range []string{"SurgeDown", "SurgeNotReady", "SurgeCPUHeadroomLow", "SurgeJoinFailures", "SurgeForwardLatencyHigh", "SurgePacketDropRateHigh", "LoadbotSLOBreach"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
	// The slo labels are the loadbot report's breach names.
	for _, s := range slos {
		if !slices.Contains([]string{"p99_latency_ms", "loss_pct", "join_failure_pct", "freezes_per_min", "jitter_ms", "p99_join_ms", "sfu_cpu_headroom_pct"}, s) {
			t.Errorf("slo label %q is not a loadbot breach name", s)
		}
	}
}

// walkPanels visits every panel, rows' nested panels included.
func walkPanels(ps []any, f func(map[string]any)) {
	for _, p := range ps {
		m, ok := p.(map[string]any)
		if !ok {
			continue
		}
		f(m)
		if sub, ok := m["panels"].([]any); ok {
			walkPanels(sub, f)
		}
	}
}

// TestDashboardsLoadByFileProvisioning: Grafana's file provisioning does
// not resolve __inputs, so a dashboard that needs them shows "datasource
// ${DS_PROMETHEUS} not found" on every panel. Ours pick the data source with
// a variable, name only real series, and have per-node panels.
func TestDashboardsLoadByFileProvisioning(t *testing.T) {
	known := knownMetrics(t)
	for _, file := range []string{"grafana-dashboard.json", "grafana-loadbot-dashboard.json"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "__inputs") || strings.Contains(string(data), "${DS_") {
			t.Errorf("%s needs import-time inputs", file)
		}
		var d map[string]any
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if d["uid"] == nil || d["uid"] == "" {
			t.Errorf("%s has no uid: provisioning would duplicate it on every restart", file)
		}
		vars := d["templating"].(map[string]any)["list"].([]any)
		if v := vars[0].(map[string]any); v["type"] != "datasource" || v["name"] != "datasource" || v["query"] != "prometheus" {
			t.Errorf("%s: first variable %v, want the prometheus datasource variable", file, v)
		}
		ids := map[float64]bool{}
		perNode := 0
		walkPanels(d["panels"].([]any), func(p map[string]any) {
			id, _ := p["id"].(float64)
			if ids[id] {
				t.Errorf("%s: panel id %v twice", file, id)
			}
			ids[id] = true
			if p["type"] == "row" {
				return
			}
			if ds, _ := p["datasource"].(map[string]any); ds == nil || ds["uid"] != "${datasource}" {
				t.Errorf("%s: panel %q has datasource %v", file, p["title"], p["datasource"])
			}
			targets, _ := p["targets"].([]any)
			for _, tg := range targets {
				expr, _ := tg.(map[string]any)["expr"].(string)
				checkExpr(t, file+" panel "+p["title"].(string), expr, known)
				if strings.Contains(expr, "by (instance") || strings.Contains(expr, "by (instance_id") || regexp.MustCompile(`^surge_[a-z_]+\{`).MatchString(expr) {
					perNode++
				}
			}
		})
		if perNode < 2 {
			t.Errorf("%s: %d per-node queries, want per-node panels", file, perNode)
		}
	}
}

// TestProvisioningFilesParse keeps the example provisioning files valid.
func TestProvisioningFilesParse(t *testing.T) {
	for _, f := range []string{"grafana/provisioning-datasource.yml", "grafana/provisioning-dashboards.yml"} {
		var v struct {
			APIVersion int `yaml:"apiVersion"`
		}
		data, err := os.ReadFile(f)
		if err == nil {
			err = yaml.Unmarshal(data, &v)
		}
		if err == nil && v.APIVersion != 1 {
			err = errors.New("apiVersion is not 1")
		}
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
