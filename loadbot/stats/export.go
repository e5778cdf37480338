package stats

import (
	"fmt"
	"time"
)

// Export and import let a report carry histograms and aggregates in a form
// that merges exactly, so that reports of several loadbot processes can be
// combined after the fact (loadbot merge) with the same percentiles one
// process would have computed.

// Bucket is one non-empty histogram bucket: Count samples of at least
// LowerUS microseconds and below the next bucket's lower bound.
type Bucket struct {
	LowerUS uint64
	Count   uint64
}

// Buckets returns the non-empty buckets in increasing order.
func (h *Histogram) Buckets() []Bucket {
	var out []Bucket
	for i, c := range h.counts {
		if c > 0 {
			l, _ := bucketRange(i)
			out = append(out, Bucket{LowerUS: l, Count: c})
		}
	}
	return out
}

// Sum returns the sum of the recorded durations.
func (h *Histogram) Sum() time.Duration { return h.sum }

// HistogramFrom rebuilds a histogram from Buckets and the exact min, max and
// sum. A lower bound that is not a bucket boundary of this layout is an
// error: the data came from an incompatible version.
func HistogramFrom(buckets []Bucket, minD, maxD, sum time.Duration) (Histogram, error) {
	var h Histogram
	for _, b := range buckets {
		i := bucketIndex(b.LowerUS)
		if l, _ := bucketRange(i); l != b.LowerUS || i >= histBuckets {
			return Histogram{}, fmt.Errorf("histogram bucket at %d µs is not a bucket boundary", b.LowerUS)
		}
		h.counts[i] += b.Count
		h.total += b.Count
	}
	if h.total > 0 {
		h.min, h.max, h.sum = minD, maxD, sum
	}
	return h, nil
}

// Jitter returns what JitterMs averages: the sum of the per-track jitter
// estimates and the number of tracks that had one.
func (a *Aggregate) Jitter() (sumMs float64, tracks int) { return a.jitterSum, a.jitterTracks }

// SetJitter restores what Jitter returned, for an imported aggregate.
func (a *Aggregate) SetJitter(sumMs float64, tracks int) { a.jitterSum, a.jitterTracks = sumMs, tracks }
