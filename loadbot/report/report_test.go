package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/surgertc/surge/loadbot/stats"
)

func decode(t *testing.T, r *Report) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// lookup follows a dotted path; "[0]" steps into the first list element.
func lookup(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, part := range strings.Split(path, ".") {
		if part == "[0]" {
			l, ok := cur.([]any)
			if !ok || len(l) == 0 {
				return nil, false
			}
			cur = l[0]
			continue
		}
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestJSONHasEveryDocumentedField(t *testing.T) {
	r := Build(sampleInput())
	m := decode(t, &r)
	paths := []string{
		"version", "started_at", "ended_at", "partial",
		"scenario.url", "scenario.rooms", "scenario.publishers", "scenario.subscribers", "scenario.duration_s",
		"scenario.join_rate", "scenario.simulcast", "scenario.shaped_share", "scenario.downlink_kbps", "scenario.srtp",
		"summary.bots.target", "summary.bots.connected", "summary.bots.failed",
		"summary.join_ms.p50", "summary.join_ms.p95", "summary.join_ms.p99", "summary.join_failures.ice_timeout",
		"summary.latency_ms.p50", "summary.latency_ms.p95", "summary.latency_ms.p99", "summary.latency_ms.max",
		"summary.loss_pct", "summary.jitter_ms", "summary.freezes.count", "summary.freezes.total_s",
		"summary.layers.q", "summary.layers.h", "summary.layers.f", "summary.bitrate_kbps",
		"summary.nacks_sent", "summary.plis_sent",
		"summary.time_to_first_frame_ms.p50", "summary.time_to_first_frame_ms.p99",
		"summary.time_to_top.ms.p50", "summary.time_to_top.ms.p99", "summary.time_to_top.ms.max",
		"summary.time_to_top.reached", "summary.time_to_top.never",
		"summary.sfu.cpu_cores", "summary.sfu.gomaxprocs", "summary.sfu.cpu_headroom_pct",
		"summary.sfu.forward_latency_ms.p50", "summary.sfu.forward_latency_ms.p99",
		"summary.sfu.dropped.slow_subscriber", "summary.sfu.scraped",
		"summary.loadbot.cpu_cores", "summary.loadbot.bottleneck",
		"summary.slo.passed", "summary.slo.breaches",
		"rooms.[0].name", "rooms.[0].publishers", "rooms.[0].subscribers",
		"rooms.[0].latency_ms.p50", "rooms.[0].latency_ms.p99", "rooms.[0].loss_pct", "rooms.[0].jitter_ms",
		"rooms.[0].freezes.count", "rooms.[0].freezes.total_s", "rooms.[0].layers.q",
		"rooms.[0].bots.[0].id", "rooms.[0].bots.[0].shaped", "rooms.[0].bots.[0].latency_ms.p50",
		"rooms.[0].bots.[0].latency_ms.p99", "rooms.[0].bots.[0].latency_ms.max", "rooms.[0].bots.[0].loss_pct",
		"rooms.[0].bots.[0].jitter_ms", "rooms.[0].bots.[0].layers.q", "rooms.[0].bots.[0].layers.h",
		"rooms.[0].bots.[0].layers.f", "rooms.[0].bots.[0].freezes.count", "rooms.[0].bots.[0].freezes.total_s",
		"rooms.[0].bots.[0].frames", "rooms.[0].bots.[0].time_to_first_frame_ms", "rooms.[0].bots.[0].join_ms",
		"timeline.[0].t_s", "timeline.[0].bots", "timeline.[0].latency_ms.p50", "timeline.[0].latency_ms.p99",
		"timeline.[0].loss_pct", "timeline.[0].sfu_cpu_cores",
	}
	for _, p := range paths {
		if _, ok := lookup(m, p); !ok {
			t.Errorf("JSON lacks %s", p)
		}
	}
	for _, p := range []string{"steps", "capacity"} {
		if _, ok := m[p]; ok {
			t.Errorf("a run must not carry %q", p)
		}
	}
	if b, _ := lookup(m, "summary.slo.breaches"); b == nil {
		t.Error("breaches must encode as a list, not null")
	}
}

func TestJSONRampFields(t *testing.T) {
	in := sampleInput()
	r1 := Build(in)
	in.Steps = []Step{NewStep(1, Load{Rooms: 2, Publishers: 1, Subscribers: 3}, r1.Summary)}
	r := Build(in)
	m := decode(t, &r)
	for _, p := range []string{
		"steps.[0].step", "steps.[0].rooms", "steps.[0].subscribers", "steps.[0].bots",
		"steps.[0].latency_ms.p99", "steps.[0].loss_pct", "steps.[0].join_failure_pct", "steps.[0].freezes",
		"steps.[0].sfu_cpu_cores", "steps.[0].passed", "steps.[0].breaches",
		"capacity.step", "capacity.bots", "capacity.rooms", "capacity.subscribers",
	} {
		if _, ok := lookup(m, p); !ok {
			t.Errorf("ramp JSON lacks %s", p)
		}
	}
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func TestBuildNumbersAreSane(t *testing.T) {
	r := Build(sampleInput())
	s := r.Summary
	if s.Bots != (Bots{Target: 8, Connected: 7, Failed: 1}) {
		t.Errorf("bots = %+v", s.Bots)
	}
	if s.JoinFailures["ice_timeout"] != 1 {
		t.Errorf("join failures = %v", s.JoinFailures)
	}
	// Delays are 30, 40 and 50 ms (the last on two subscribers only).
	if !near(s.LatencyMs.P50, 40, 0.4) || !near(s.LatencyMs.Max, 50, 0.01) || s.LatencyMs.P99 > s.LatencyMs.Max {
		t.Errorf("latency = %+v", s.LatencyMs)
	}
	// One subscriber of five drops every 50th packet; its last packet is
	// one of them and, with nothing after it, unseen: 17 of 4499.
	if !near(s.LossPct, 17.0/4499*100, 0.001) {
		t.Errorf("loss = %v", s.LossPct)
	}
	// Four subscribers on f, one on q (the other q one failed to join).
	if !near(s.Layers.F, 0.8, 0.01) || !near(s.Layers.Q, 0.2, 0.01) || s.Layers.H != 0 {
		t.Errorf("layers = %+v", s.Layers)
	}
	// 300 ms to the first packet plus the delay.
	if !near(s.TimeToFirstFrameMs.P50, 340, 1) {
		t.Errorf("ttff = %+v", s.TimeToFirstFrameMs)
	}
	// 900 × 1100 B over ~10 s.
	if !near(s.BitrateKbps, 792, 10) {
		t.Errorf("bitrate = %v", s.BitrateKbps)
	}
	if s.NACKsSent != 10 || s.PLIsSent != 5 {
		t.Errorf("nacks/plis = %d/%d", s.NACKsSent, s.PLIsSent)
	}
	// 15 CPU-seconds over 10 s; peak interval 2 cores of 4.
	if s.SFU.CPUCores != 1.5 || s.SFU.CPUHeadroomPct != 50 {
		t.Errorf("sfu = %+v", s.SFU)
	}
	if !s.Loadbot.Bottleneck {
		t.Error("1.9 of 2 cores must flag loadbot as the bottleneck")
	}
	// 1 of 8 bots failed: 12.5 % > 5 %.
	if s.SLO.Passed || len(s.SLO.Breaches) != 1 || s.SLO.Breaches[0].Name != BreachJoinFailure {
		t.Errorf("slo = %+v", s.SLO)
	}
	if len(r.Rooms) != 2 || r.Rooms[0].Publishers != 1 || r.Rooms[0].Subscribers != 3 || len(r.Rooms[0].Bots) != 4 {
		t.Fatalf("rooms = %+v", r.Rooms)
	}
	sub := r.Rooms[0].Bots[1]
	if sub.Role != "subscriber" || sub.Frames != 300 || !near(sub.LatencyMs.P50, 30, 0.3) || !near(sub.JoinMs, 200, 0.01) {
		t.Errorf("bot = %+v", sub)
	}
	if failed := r.Rooms[1].Bots[3]; failed.JoinFailure != "ice_timeout" || failed.JoinMs != 0 {
		t.Errorf("failed bot = %+v", failed)
	}
}

func TestBuildEmptyInputEncodes(t *testing.T) {
	r := Build(Input{})
	m := decode(t, &r)
	if v, _ := lookup(m, "summary.slo.passed"); v != true {
		t.Errorf("no limits and no data must pass, got %v", v)
	}
	if _, ok := lookup(m, "timeline"); !ok {
		t.Error("timeline must be present even when empty")
	}
}

func TestCPUCores(t *testing.T) {
	mean, peak := CPUCores([]SFUSample{{At: start, CPUSeconds: 10}})
	if mean != 0 || peak != 0 {
		t.Fatal("one sample has no rate")
	}
	mean, peak = CPUCores(sampleInput().SFU.Samples)
	if mean != 1.5 || peak != 2 {
		t.Fatalf("mean %v peak %v", mean, peak)
	}
}

func TestProgressLine(t *testing.T) {
	line := ProgressLine(Progress{Elapsed: 65e9, BotsUp: 120, BotsTarget: 200, JoinsFailed: 3,
		LatencyP50Ms: 42.3, LatencyP99Ms: 180.25, LossPct: 0.5, SFUCPUCores: 3.25})
	for _, want := range []string{"1m5s", "120/200", "failed    3", "p50    42.3ms", "p99   180.2ms", "0.50%", "3.25 cores"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	if strings.Contains(ProgressLine(Progress{SFUCPUCores: -1}), "-1") {
		t.Error("an unscraped SFU must read n/a")
	}
}

// The summary's time to top layer covers unshaped subscribers that got
// video: one on f 1.5 s after its first frame, one never on f; a shaped
// subscriber (expected to stay low) and a publisher do not count.
func TestBuildTimeToTopLayer(t *testing.T) {
	track := func(layers ...string) stats.Snapshot {
		ts := stats.NewTrackStats(stats.KindVideo, 90000, stats.WithStart(start.Add(-100*time.Millisecond)))
		for i, l := range layers {
			ts.OnPacket(stats.PacketInfo{SequenceNumber: uint16(i), Timestamp: uint32(i) * 45000, Marker: true,
				PayloadLen: 1000, Keyframe: true, KeyframeWidth: 320, KeyframeHeight: 180, Layer: l},
				start.Add(time.Duration(i)*500*time.Millisecond))
		}
		ts.Finish(start.Add(3 * time.Second))
		return ts.Snapshot()
	}
	in := sampleInput()
	in.Rooms = []RoomInput{{Name: "r", Bots: []BotInput{
		{ID: "pub", Publisher: true},
		{ID: "late", Tracks: []stats.Snapshot{track("q", "q", "h", "f")}},
		{ID: "never", Tracks: []stats.Snapshot{track("q", "h", "h")}},
		{ID: "shaped", Shaped: true, Tracks: []stats.Snapshot{track("q", "q")}},
	}}}
	r := Build(in)
	got := r.Summary.TimeToTop
	if got.Reached != 1 || got.Never != 1 || !near(got.Ms.P50, 1500, 15) || !near(got.Ms.Max, 1500, 15) {
		t.Fatalf("time to top = %+v, want 1 reached at 1500 ms and 1 never", got)
	}
	bots := decode(t, &r)["rooms"].([]any)[0].(map[string]any)["bots"].([]any)
	late, never := bots[1].(map[string]any), bots[2].(map[string]any)
	if v, ok := late["time_to_top_ms"].(float64); !ok || !near(v, 1500, 1) {
		t.Errorf("late bot's row: time_to_top_ms %v", late["time_to_top_ms"])
	}
	if v, ok := never["time_to_top_ms"]; ok {
		t.Errorf("a bot never on f has time_to_top_ms %v; want it absent", v)
	}
	for _, p := range []string{"summary.time_to_top.ms.p50", "summary.time_to_top.reached", "summary.time_to_top.never"} {
		if _, ok := lookup(decode(t, &r), p); !ok {
			t.Errorf("JSON lacks %s", p)
		}
	}
}
