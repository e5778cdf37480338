package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families ParseSFUScrape reads.
const (
	famProcessCPU     = "process_cpu_seconds_total"
	famGOMAXPROCS     = "surge_gomaxprocs"
	famHostCores      = "surge_host_cpu_cores"
	famForwardLatency = "surge_forward_latency_seconds"
	famDropped        = "surge_packets_dropped_total"
)

// SFUScrape is what loadbot needs from one scrape of an SFU's /metrics.
// Counters and the histogram are cumulative since the SFU started; compare
// two scrapes (CPUSince, Histogram.Sub) to get the values for a test step.
type SFUScrape struct {
	At             time.Time          // when the scrape was taken
	CPUSeconds     float64            // process_cpu_seconds_total
	GOMAXPROCS     float64            // surge_gomaxprocs
	HostCores      float64            // surge_host_cpu_cores
	ForwardLatency Histogram          // surge_forward_latency_seconds
	Dropped        map[string]float64 // surge_packets_dropped_total by reason
	// Missing lists the families above that the exposition did not have
	// (an older SFU, a platform without the process collector), so a zero
	// can be told apart from "unknown".
	Missing []string
}

// Histogram is a cumulative Prometheus histogram.
type Histogram struct {
	Count   float64
	Sum     float64
	Buckets []Bucket // ascending by UpperBound, the last one +Inf
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	UpperBound float64
	Count      float64 // observations <= UpperBound
}

// ParseSFUScrape parses a Prometheus text exposition (what /metrics returns
// to a client that sends no Accept header) taken at at. Families it cannot
// find are listed in Missing rather than failing the parse: an error means
// the body was not a text exposition at all.
func ParseSFUScrape(body io.Reader, at time.Time) (SFUScrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(body)
	if err != nil {
		return SFUScrape{}, fmt.Errorf("metrics: parse SFU exposition: %w", err)
	}
	s := SFUScrape{At: at, Dropped: map[string]float64{}}
	scalar := func(name string, dst *float64) {
		if v, ok := sumValues(fams[name]); ok {
			*dst = v
		} else {
			s.Missing = append(s.Missing, name)
		}
	}
	scalar(famProcessCPU, &s.CPUSeconds)
	scalar(famGOMAXPROCS, &s.GOMAXPROCS)
	scalar(famHostCores, &s.HostCores)

	if h, ok := histogramOf(fams[famForwardLatency]); ok {
		s.ForwardLatency = h
	} else {
		s.Missing = append(s.Missing, famForwardLatency)
	}

	if f := fams[famDropped]; f != nil {
		for _, m := range f.GetMetric() {
			if v, ok := value(m); ok {
				s.Dropped[labelValue(m, "reason")] += v
			}
		}
	} else {
		s.Missing = append(s.Missing, famDropped)
	}
	return s, nil
}

// CPUSince returns the cores the SFU used between prev and s, and its
// headroom: 1 − cores/GOMAXPROCS, the fraction of its usable CPU left (falling
// back to host cores if GOMAXPROCS is unknown). ok is false if either scrape
// lacks process CPU, no time passed, or the SFU restarted in between.
func (s SFUScrape) CPUSince(prev SFUScrape) (cores, headroom float64, ok bool) {
	if s.missing(famProcessCPU) || prev.missing(famProcessCPU) {
		return 0, 0, false
	}
	cores, ok = CoresUsed(prev.CPUSeconds, s.CPUSeconds, s.At.Sub(prev.At))
	if !ok {
		return 0, 0, false
	}
	capacity := s.GOMAXPROCS
	if capacity <= 0 {
		capacity = s.HostCores
	}
	if capacity <= 0 {
		return 0, 0, false
	}
	return cores, 1 - cores/capacity, true
}

// DroppedSince returns packets dropped per reason between prev and s.
func (s SFUScrape) DroppedSince(prev SFUScrape) map[string]float64 {
	out := make(map[string]float64, len(s.Dropped))
	for r, v := range s.Dropped {
		if d := v - prev.Dropped[r]; d > 0 {
			out[r] = d
		}
	}
	return out
}

func (s SFUScrape) missing(name string) bool {
	for _, m := range s.Missing {
		if m == name {
			return true
		}
	}
	return false
}

// Sub returns the observations made between prev and h, both cumulative
// scrapes of the same histogram. If the bucket layouts differ (the SFU was
// upgraded) or h went backwards (it restarted), h is returned as is: it then
// holds exactly the observations since the restart.
func (h Histogram) Sub(prev Histogram) Histogram {
	if len(prev.Buckets) != len(h.Buckets) || h.Count < prev.Count {
		return h
	}
	out := Histogram{Count: h.Count - prev.Count, Sum: h.Sum - prev.Sum, Buckets: make([]Bucket, len(h.Buckets))}
	for i, b := range h.Buckets {
		if prev.Buckets[i].UpperBound != b.UpperBound {
			return h
		}
		out.Buckets[i] = Bucket{UpperBound: b.UpperBound, Count: b.Count - prev.Buckets[i].Count}
	}
	return out
}

// Quantile estimates the q-quantile (0 ≤ q ≤ 1) the way PromQL's
// histogram_quantile does, so loadbot's report and the dashboard agree:
// linear interpolation inside the bucket holding the rank, the highest finite
// bound if the rank lands in +Inf. NaN if there are no observations.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count <= 0 || len(h.Buckets) == 0 || math.IsNaN(q) {
		return math.NaN()
	}
	q = math.Min(math.Max(q, 0), 1)
	rank := q * h.Count
	i := sort.Search(len(h.Buckets), func(i int) bool { return h.Buckets[i].Count >= rank })
	if i == len(h.Buckets) {
		i = len(h.Buckets) - 1
	}
	if math.IsInf(h.Buckets[i].UpperBound, +1) {
		if i == 0 {
			return math.NaN()
		}
		return h.Buckets[i-1].UpperBound
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = h.Buckets[i-1].UpperBound, h.Buckets[i-1].Count
	}
	upper, inBucket := h.Buckets[i].UpperBound, h.Buckets[i].Count-below
	if inBucket <= 0 {
		return upper
	}
	return lower + (upper-lower)*(rank-below)/inBucket
}

// sumValues adds up a counter, gauge or untyped family across its series.
func sumValues(f *dto.MetricFamily) (float64, bool) {
	if f == nil {
		return 0, false
	}
	sum, found := 0.0, false
	for _, m := range f.GetMetric() {
		if v, ok := value(m); ok {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

func value(m *dto.Metric) (float64, bool) {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}

// histogramOf reads the family's first histogram series; the SFU exports one.
func histogramOf(f *dto.MetricFamily) (Histogram, bool) {
	if f == nil {
		return Histogram{}, false
	}
	for _, m := range f.GetMetric() {
		dh := m.GetHistogram()
		if dh == nil {
			continue
		}
		h := Histogram{Count: float64(dh.GetSampleCount()), Sum: dh.GetSampleSum()}
		if dh.SampleCountFloat != nil {
			h.Count = dh.GetSampleCountFloat()
		}
		for _, b := range dh.GetBucket() {
			c := float64(b.GetCumulativeCount())
			if b.CumulativeCountFloat != nil {
				c = b.GetCumulativeCountFloat()
			}
			h.Buckets = append(h.Buckets, Bucket{UpperBound: b.GetUpperBound(), Count: c})
		}
		sort.Slice(h.Buckets, func(i, j int) bool { return h.Buckets[i].UpperBound < h.Buckets[j].UpperBound })
		if n := len(h.Buckets); n == 0 || !math.IsInf(h.Buckets[n-1].UpperBound, +1) {
			h.Buckets = append(h.Buckets, Bucket{UpperBound: math.Inf(+1), Count: h.Count})
		}
		return h, true
	}
	return Histogram{}, false
}

func labelValue(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}
