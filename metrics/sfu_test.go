package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// sfuFamilies is the SFU's exported surface; the README's table is this list.
var sfuFamilies = map[string]dto.MetricType{
	"surge_rooms":                            dto.MetricType_GAUGE,
	"surge_participants":                     dto.MetricType_GAUGE,
	"surge_tracks_published":                 dto.MetricType_GAUGE,
	"surge_tracks_subscribed":                dto.MetricType_GAUGE,
	"surge_gomaxprocs":                       dto.MetricType_GAUGE,
	"surge_host_cpu_cores":                   dto.MetricType_GAUGE,
	"surge_simulcast_paused_tracks":          dto.MetricType_GAUGE,
	"surge_simulcast_current_layer":          dto.MetricType_GAUGE,
	"surge_packets_received_total":           dto.MetricType_COUNTER,
	"surge_bytes_received_total":             dto.MetricType_COUNTER,
	"surge_packets_sent_total":               dto.MetricType_COUNTER,
	"surge_bytes_sent_total":                 dto.MetricType_COUNTER,
	"surge_udp_messages_sent_total":          dto.MetricType_COUNTER,
	"surge_udp_gso":                          dto.MetricType_GAUGE,
	"surge_packets_dropped_total":            dto.MetricType_COUNTER,
	"surge_peer_limited_total":               dto.MetricType_COUNTER,
	"surge_nack_requests_total":              dto.MetricType_COUNTER,
	"surge_nack_answered_total":              dto.MetricType_COUNTER,
	"surge_pli_forwarded_total":              dto.MetricType_COUNTER,
	"surge_pli_throttled_total":              dto.MetricType_COUNTER,
	"surge_joins_total":                      dto.MetricType_COUNTER,
	"surge_simulcast_layer_switches_total":   dto.MetricType_COUNTER,
	"surge_simulcast_switch_plis_total":      dto.MetricType_COUNTER,
	"surge_forward_latency_seconds":          dto.MetricType_HISTOGRAM,
	"surge_rtt_seconds":                      dto.MetricType_HISTOGRAM,
	"surge_simulcast_switch_latency_seconds": dto.MetricType_HISTOGRAM,
	"surge_bandwidth_estimate_bps":           dto.MetricType_HISTOGRAM,
	// From the process and Go collectors; loadbot depends on the first.
	"process_cpu_seconds_total": dto.MetricType_COUNTER,
	"go_goroutines":             dto.MetricType_GAUGE,
}

func gather(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func checkFamilies(t *testing.T, got map[string]*dto.MetricFamily, want map[string]dto.MetricType) {
	t.Helper()
	for name, typ := range want {
		f, ok := got[name]
		if !ok {
			t.Errorf("family %s not exported", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("family %s has type %v, want %v", name, f.GetType(), typ)
		}
	}
}

// No package globals: each server (and each test) gets its own registry.
func TestNewSFURegistersOnEachFreshRegistry(t *testing.T) {
	for i := range 2 {
		reg := prometheus.NewRegistry()
		m := NewSFU(reg)
		m.PacketsIn(KindVideo).Inc()
		fams := gather(t, reg)
		checkFamilies(t, fams, sfuFamilies)
		if v := fams["surge_packets_received_total"].GetMetric(); len(v) != int(numKinds) {
			t.Errorf("registry %d: %d kind series, want %d pre-created", i, len(v), numKinds)
		}
	}
}

// Every labelled series exists at zero from the first scrape, so rate() and
// the dashboards have data before the first event.
func TestNewSFUPrecreatesLabelledSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewSFU(reg)
	fams := gather(t, reg)
	want := map[string]int{
		"surge_packets_dropped_total":          int(numDropReasons),
		"surge_peer_limited_total":             int(numPeerLimits),
		"surge_simulcast_current_layer":        int(numLayers),
		"surge_simulcast_layer_switches_total": int(numDirections) * int(numSwitchReasons),
		"surge_joins_total":                    len(joinResults),
		"surge_tracks_published":               int(numKinds),
	}
	for name, n := range want {
		if got := len(fams[name].GetMetric()); got != n {
			t.Errorf("%s: %d series, want %d", name, got, n)
		}
	}
}

func TestNewSFUNilRegistererStillCounts(t *testing.T) {
	m := NewSFU(nil)
	m.Received(KindAudio, 100)
	m.Dropped(DropCacheMiss).Inc()
	m.Joins(JoinRoomFull).Inc()
}

func TestEnumStringsAreLabelValues(t *testing.T) {
	tests := []struct{ got, want string }{
		{KindAudio.String(), "audio"},
		{KindVideo.String(), "video"},
		{Kind(7).String(), "unknown"},
		{LayerQ.String(), "q"},
		{LayerF.String(), "f"},
		{DropSubscriberQueueFull.String(), "subscriber_queue_full"},
		{DropCacheMiss.String(), "cache_miss"},
		{DropWaitingKeyframe.String(), "waiting_keyframe"},
		{DropReason(-1).String(), "unknown"},
		{Down.String(), "down"},
		{SwitchLayerUnavailable.String(), "layer_unavailable"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	for r := DropReason(0); r < numDropReasons; r++ {
		if dropReasonNames[r] == "" {
			t.Errorf("drop reason %d has no name", r)
		}
	}
}

// The packet path calls these per packet per subscriber; an allocation
// there would show up as GC pressure at a few hundred thousand pps.
func TestPacketPathDoesNotAllocate(t *testing.T) {
	m := NewSFU(prometheus.NewRegistry())
	allocs := testing.AllocsPerRun(1000, func() {
		m.PacketsIn(KindVideo).Inc()
		m.Received(KindVideo, 1200)
		m.Sent(KindAudio, 160)
		m.Dropped(DropNotTargetLayer).Inc()
		m.ForwardLatency().Observe(30e-6)
		m.CurrentLayer(LayerH).Inc()
		m.LayerSwitches(Up, SwitchBandwidth).Inc()
	})
	if allocs != 0 {
		t.Fatalf("packet path allocates %.1f times per packet, want 0", allocs)
	}
}

func BenchmarkPacketsInInc(b *testing.B) {
	m := NewSFU(prometheus.NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		m.PacketsIn(KindVideo).Inc()
	}
}

func BenchmarkDroppedInc(b *testing.B) {
	m := NewSFU(prometheus.NewRegistry())
	b.ReportAllocs()
	r := DropSubscriberQueueFull
	for b.Loop() {
		m.Dropped(r).Inc()
	}
}

func BenchmarkForwardLatencyObserve(b *testing.B) {
	m := NewSFU(prometheus.NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		m.ForwardLatency().Observe(42e-6)
	}
}

// Many fan-out workers hit the same counter; this shows the cost of the
// shared cache line they contend on.
func BenchmarkPacketsInIncParallel(b *testing.B) {
	m := NewSFU(prometheus.NewRegistry())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.PacketsIn(KindVideo).Inc()
		}
	})
}
