package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var loadbotFamilies = map[string]dto.MetricType{
	"loadbot_bots":                   dto.MetricType_GAUGE,
	"loadbot_joins_total":            dto.MetricType_COUNTER,
	"loadbot_join_seconds":           dto.MetricType_HISTOGRAM,
	"loadbot_latency_seconds":        dto.MetricType_HISTOGRAM,
	"loadbot_packets_received_total": dto.MetricType_COUNTER,
	"loadbot_packets_lost_total":     dto.MetricType_COUNTER,
	"loadbot_freezes_total":          dto.MetricType_COUNTER,
	"loadbot_freeze_seconds_total":   dto.MetricType_COUNTER,
	"loadbot_layer_seconds_total":    dto.MetricType_COUNTER,
	"loadbot_cpu_cores":              dto.MetricType_GAUGE,
}

func TestNewLoadbotRegistersOnEachFreshRegistry(t *testing.T) {
	for i := range 2 {
		reg := prometheus.NewRegistry()
		NewLoadbot(reg, prometheus.Labels{"instance_id": "lb-1"})
		fams := gather(t, reg)
		checkFamilies(t, fams, loadbotFamilies)
		if len(fams) != len(loadbotFamilies) {
			t.Errorf("registry %d: %d families, want only loadbot's %d", i, len(fams), len(loadbotFamilies))
		}
	}
}

// Const labels are what let one dashboard sum several loadbot processes;
// they must reach every series.
func TestNewLoadbotConstLabelsOnEverySeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewLoadbot(reg, prometheus.Labels{"instance_id": "lb-7"})
	for name, f := range gather(t, reg) {
		for _, m := range f.GetMetric() {
			if labelValue(m, "instance_id") != "lb-7" {
				t.Errorf("%s series %v lacks instance_id=lb-7", name, m.GetLabel())
			}
		}
	}
}

func TestLoadbotMethods(t *testing.T) {
	m := NewLoadbot(prometheus.NewRegistry(), nil)

	m.Bots(RoleSubscriber, BotConnecting).Inc()
	m.MoveBot(RoleSubscriber, BotConnecting, BotConnected)
	if got := valueOf(t, m.Bots(RoleSubscriber, BotConnected)); got != 1 {
		t.Errorf("connected subscribers = %v, want 1", got)
	}
	if got := valueOf(t, m.Bots(RoleSubscriber, BotConnecting)); got != 0 {
		t.Errorf("connecting subscribers = %v, want 0", got)
	}

	m.Join(JoinOK, 150*time.Millisecond)
	m.Join(JoinRoomFull, 30*time.Second)
	if got := valueOf(t, m.joins.WithLabelValues(JoinRoomFull)); got != 1 {
		t.Errorf("room_full joins = %v, want 1", got)
	}
	var h dto.Metric
	if err := m.joinSeconds.Write(&h); err != nil {
		t.Fatal(err)
	}
	if got := h.GetHistogram().GetSampleCount(); got != 1 {
		t.Errorf("join durations observed = %d, want 1: failed joins must not skew it", got)
	}

	m.AddLost(3)
	m.AddLost(-2) // a late arrival must not make the counter panic or go down
	if got := valueOf(t, m.packetsLost); got != 3 {
		t.Errorf("lost = %v, want 3", got)
	}

	m.Freeze(500 * time.Millisecond)
	m.Freeze(time.Second)
	if got := valueOf(t, m.freezes); got != 2 {
		t.Errorf("freezes = %v, want 2", got)
	}
	if got := valueOf(t, m.freezeSeconds); got != 1.5 {
		t.Errorf("freeze seconds = %v, want 1.5", got)
	}

	m.AddLayerTime(LayerH, 2*time.Second)
	if got := valueOf(t, m.layerSeconds[LayerH]); got != 2 {
		t.Errorf("h layer seconds = %v, want 2", got)
	}
	m.SetCPUCores(1.25)
	if got := valueOf(t, m.cpuCores); got != 1.25 {
		t.Errorf("cpu cores = %v, want 1.25", got)
	}
}

// valueOf reads a counter or gauge. testutil.ToFloat64 would do, but it
// pulls a diff library into go.sum for one line of work.
func valueOf(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	v, ok := value(&m)
	if !ok {
		t.Fatalf("%v is neither counter nor gauge", c.Desc())
	}
	return v
}
