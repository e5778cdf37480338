package metrics

import (
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Loadbot scrapes a real SFU's /metrics over HTTP; so does this test.
func TestParseSFUScrapeReadsRealExposition(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewSFU(reg)
	m.Dropped(DropCacheMiss).Add(2)
	m.Dropped(DropSubscriberQueueFull).Inc()
	for _, v := range []float64{2e-6, 1e-3, 1} { // the last lands in +Inf
		m.ForwardLatency().Observe(v)
	}

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	at := time.Unix(1000, 0)
	s, err := ParseSFUScrape(resp.Body, at)
	if err != nil {
		t.Fatal(err)
	}

	if len(s.Missing) != 0 {
		t.Errorf("missing %v from a full SFU exposition", s.Missing)
	}
	if !s.At.Equal(at) {
		t.Errorf("At = %v, want %v", s.At, at)
	}
	if s.CPUSeconds <= 0 {
		t.Errorf("process CPU = %v, want > 0 for a running process", s.CPUSeconds)
	}
	if s.GOMAXPROCS != float64(runtime.GOMAXPROCS(0)) {
		t.Errorf("GOMAXPROCS = %v, want %d", s.GOMAXPROCS, runtime.GOMAXPROCS(0))
	}
	if s.HostCores != float64(runtime.NumCPU()) {
		t.Errorf("host cores = %v, want %d", s.HostCores, runtime.NumCPU())
	}
	if s.Dropped["cache_miss"] != 2 || s.Dropped["subscriber_queue_full"] != 1 || s.Dropped["paused"] != 0 {
		t.Errorf("dropped = %v", s.Dropped)
	}
	if _, ok := s.Dropped["paused"]; !ok {
		t.Errorf("zero-valued reasons should still be present: %v", s.Dropped)
	}

	h := s.ForwardLatency
	if h.Count != 3 || math.Abs(h.Sum-1.001002) > 1e-9 {
		t.Errorf("forward latency count %v sum %v, want 3, 1.001002", h.Count, h.Sum)
	}
	if n := len(h.Buckets); n != len(forwardLatencyBuckets)+1 || !math.IsInf(h.Buckets[n-1].UpperBound, 1) {
		t.Fatalf("got %d buckets ending at %v, want %d ending at +Inf", n, h.Buckets[n-1].UpperBound, len(forwardLatencyBuckets)+1)
	}
	if got := h.Buckets[1].Count; got != 1 { // 2e-6 lies under the second bound (~2.06µs)
		t.Errorf("bucket le=%g holds %v, want 1", h.Buckets[1].UpperBound, got)
	}
	if got := h.Buckets[len(h.Buckets)-2].Count; got != 2 {
		t.Errorf("highest finite bucket holds %v, want 2", got)
	}
	if got := h.Quantile(0.99); got != forwardLatencyBuckets[len(forwardLatencyBuckets)-1] {
		t.Errorf("p99 = %v, want the highest finite bound (rank in +Inf)", got)
	}
}

// An SFU without the process collector (or an older build) must not break
// loadbot's run: the parse succeeds and says what it could not find.
func TestParseSFUScrapeToleratesMissingFamilies(t *testing.T) {
	body := "# TYPE surge_gomaxprocs gauge\nsurge_gomaxprocs 4\n"
	s, err := ParseSFUScrape(strings.NewReader(body), time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if s.GOMAXPROCS != 4 {
		t.Errorf("GOMAXPROCS = %v, want 4", s.GOMAXPROCS)
	}
	want := []string{famProcessCPU, famHostCores, famForwardLatency, famDropped}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(s.Missing))
	if !slices.Equal(got, want) {
		t.Errorf("missing = %v, want %v", got, want)
	}
	if _, _, ok := s.CPUSince(s); ok {
		t.Error("CPUSince without process CPU reported ok")
	}
	if !math.IsNaN(s.ForwardLatency.Quantile(0.5)) {
		t.Error("quantile of an absent histogram should be NaN")
	}
}

func TestParseSFUScrapeRejectsNonExposition(t *testing.T) {
	if _, err := ParseSFUScrape(strings.NewReader("<html>502 Bad Gateway</html>\n"), time.Now()); err == nil {
		t.Fatal("an HTML error page parsed as an exposition")
	}
}

func TestCPUSince(t *testing.T) {
	t0 := time.Unix(1000, 0)
	prev := SFUScrape{At: t0, CPUSeconds: 100, GOMAXPROCS: 4, HostCores: 8}
	tests := []struct {
		name            string
		cur             SFUScrape
		cores, headroom float64
		ok              bool
	}{
		{"one of four cores busy", SFUScrape{At: t0.Add(10 * time.Second), CPUSeconds: 110, GOMAXPROCS: 4}, 1, 0.75, true},
		{"saturated", SFUScrape{At: t0.Add(time.Second), CPUSeconds: 104, GOMAXPROCS: 4}, 4, 0, true},
		{"host cores when GOMAXPROCS unknown", SFUScrape{At: t0.Add(time.Second), CPUSeconds: 102, HostCores: 8}, 2, 0.75, true},
		{"no capacity known", SFUScrape{At: t0.Add(time.Second), CPUSeconds: 102}, 0, 0, false},
		{"SFU restarted", SFUScrape{At: t0.Add(time.Second), CPUSeconds: 1, GOMAXPROCS: 4}, 0, 0, false},
		{"same instant", SFUScrape{At: t0, CPUSeconds: 101, GOMAXPROCS: 4}, 0, 0, false},
	}
	for _, tt := range tests {
		cores, headroom, ok := tt.cur.CPUSince(prev)
		if cores != tt.cores || headroom != tt.headroom || ok != tt.ok {
			t.Errorf("%s: got %v, %v, %v; want %v, %v, %v", tt.name, cores, headroom, ok, tt.cores, tt.headroom, tt.ok)
		}
	}
}

func TestDroppedSince(t *testing.T) {
	prev := SFUScrape{Dropped: map[string]float64{"cache_miss": 5, "paused": 1}}
	cur := SFUScrape{Dropped: map[string]float64{"cache_miss": 8, "paused": 1, "write_error": 2}}
	got := cur.DroppedSince(prev)
	if len(got) != 2 || got["cache_miss"] != 3 || got["write_error"] != 2 {
		t.Errorf("DroppedSince = %v, want cache_miss:3 write_error:2", got)
	}
}

func hist(count float64, bounds []float64, counts []float64) Histogram {
	h := Histogram{Count: count}
	for i, b := range bounds {
		h.Buckets = append(h.Buckets, Bucket{UpperBound: b, Count: counts[i]})
	}
	return h
}

func TestHistogramQuantile(t *testing.T) {
	inf := math.Inf(1)
	h := hist(100, []float64{0.001, 0.01, 0.1, inf}, []float64{50, 90, 100, 100})
	tests := []struct {
		q, want float64
	}{
		{0, 0},
		{0.25, 0.0005},             // halfway into the first bucket, from 0
		{0.5, 0.001},               // exactly its upper bound
		{0.7, 0.001 + 0.009*20/40}, // interpolated in (1ms, 10ms]
		{0.95, 0.01 + 0.09*5/10},   // in (10ms, 100ms]
		{1, 0.1},                   // the last finite bucket is full
		{2, 0.1},                   // clamped to 1
	}
	for _, tt := range tests {
		if got := h.Quantile(tt.q); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	tail := hist(10, []float64{0.001, inf}, []float64{5, 10})
	if got := tail.Quantile(0.9); got != 0.001 {
		t.Errorf("rank in +Inf: Quantile = %v, want highest finite bound 0.001", got)
	}
	if got := (Histogram{}).Quantile(0.5); !math.IsNaN(got) {
		t.Errorf("empty: Quantile = %v, want NaN", got)
	}
}

func TestHistogramSub(t *testing.T) {
	inf := math.Inf(1)
	prev := hist(10, []float64{0.001, inf}, []float64{8, 10})
	prev.Sum = 1
	cur := hist(30, []float64{0.001, inf}, []float64{18, 30})
	cur.Sum = 4
	d := cur.Sub(prev)
	if d.Count != 20 || d.Sum != 3 || d.Buckets[0].Count != 10 || d.Buckets[1].Count != 20 {
		t.Errorf("Sub = %+v", d)
	}
	restarted := hist(4, []float64{0.001, inf}, []float64{4, 4})
	if got := restarted.Sub(prev); got.Count != 4 {
		t.Errorf("after restart Sub should return the new histogram as is, got %+v", got)
	}
	relaid := hist(40, []float64{0.002, inf}, []float64{30, 40})
	if got := relaid.Sub(prev); got.Count != 40 {
		t.Errorf("different buckets: Sub should return the new histogram as is, got %+v", got)
	}
}
