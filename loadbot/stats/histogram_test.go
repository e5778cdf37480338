package stats

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestHistogramLayoutCoversRange(t *testing.T) {
	if got := bucketIndex(uint64(histMax/time.Microsecond)) + 1; got != histBuckets {
		t.Fatalf("histBuckets = %d, layout needs %d", histBuckets, got)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100000; i++ {
		v := r.Uint64N(uint64(histMax / time.Microsecond))
		if i < 1000 {
			v = uint64(i)
		}
		idx := bucketIndex(v)
		lo, w := bucketRange(idx)
		if v < lo || v >= lo+w {
			t.Fatalf("value %d in bucket %d = [%d,%d)", v, idx, lo, lo+w)
		}
		if w > 1 && float64(w)/float64(lo) > 1.0/subCount {
			t.Fatalf("bucket %d too wide: %d at %d", idx, w, lo)
		}
	}
}

// exactQuantile is the nearest-rank quantile that Histogram approximates.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func TestHistogramQuantilesWithinOnePercent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	dists := map[string]func() time.Duration{
		"uniform 1ms-100ms": func() time.Duration {
			return time.Millisecond + time.Duration(r.Int64N(int64(99*time.Millisecond)))
		},
		"exponential mean 40ms": func() time.Duration {
			return time.Duration(r.ExpFloat64() * float64(40*time.Millisecond))
		},
		"lognormal around 80ms": func() time.Duration {
			return time.Duration(math.Exp(r.NormFloat64()*0.8) * float64(80*time.Millisecond))
		},
		"µs scale": func() time.Duration {
			return time.Duration(1+r.Int64N(5000)) * time.Microsecond
		},
	}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			var h Histogram
			vals := make([]time.Duration, 50000)
			for i := range vals {
				vals[i] = gen()
				h.Record(vals[i])
			}
			sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
			for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999} {
				want := exactQuantile(vals, q)
				got := h.Quantile(q)
				// A µs of absolute slack covers truncation to whole µs.
				if diff := math.Abs(float64(got - want)); diff > 0.01*float64(want)+float64(time.Microsecond) {
					t.Errorf("q%.3f = %v, want %v ±1%%", q, got, want)
				}
			}
			if h.Max() != vals[len(vals)-1] || h.Min() != vals[0] {
				t.Errorf("min/max = %v/%v, want %v/%v", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
			}
			if h.Count() != uint64(len(vals)) {
				t.Errorf("count = %d", h.Count())
			}
		})
	}
}

func TestHistogramMergeEqualsWhole(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var whole, a, b Histogram
	for i := 0; i < 20000; i++ {
		d := time.Duration(r.ExpFloat64() * float64(30*time.Millisecond))
		whole.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var merged Histogram
	merged.Merge(&a)
	merged.Merge(&b)
	merged.Merge(&Histogram{}) // an empty one must not reset min
	if merged != whole {
		t.Fatalf("merged histogram differs from the whole: count %d/%d max %v/%v min %v/%v mean %v/%v",
			merged.Count(), whole.Count(), merged.Max(), whole.Max(), merged.Min(), whole.Min(), merged.Mean(), whole.Mean())
	}
}

func TestHistogramEdges(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram must answer 0")
	}
	h.Record(-time.Millisecond) // clamped to 0
	h.Record(2 * time.Minute)   // above range: bucketed at 60 s, max exact
	if h.Min() != 0 || h.Max() != 2*time.Minute {
		t.Fatalf("min %v max %v", h.Min(), h.Max())
	}
	if got := h.Quantile(1); got != 2*time.Minute {
		t.Fatalf("q1 = %v", got)
	}
	if got := h.Quantile(0.5); got != 0 {
		t.Fatalf("q0.5 = %v", got)
	}
}

func TestHistogramSub(t *testing.T) {
	var h Histogram
	for i := 0; i < 100; i++ {
		h.Record(10 * time.Millisecond)
	}
	prev := h
	for i := 0; i < 100; i++ {
		h.Record(50 * time.Millisecond)
	}
	d := h.Sub(&prev)
	if d.Count() != 100 {
		t.Fatalf("count %d", d.Count())
	}
	if q := d.Quantile(0.5); math.Abs(float64(q-50*time.Millisecond)) > 0.01*float64(50*time.Millisecond) {
		t.Fatalf("interval p50 = %v, want ~50ms", q)
	}
	if e := h.Sub(&h); e.Count() != 0 {
		t.Fatal("nothing new must be empty")
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i%100000) * time.Microsecond)
	}
}
