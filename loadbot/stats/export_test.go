package stats

import (
	"testing"
	"time"
)

func TestHistogramRoundTripsThroughBuckets(t *testing.T) {
	var h Histogram
	for i := 0; i < 5000; i++ {
		h.Record(time.Duration(i*i) * time.Microsecond / 7)
	}
	got, err := HistogramFrom(h.Buckets(), h.Min(), h.Max(), h.Sum())
	if err != nil {
		t.Fatal(err)
	}
	if got != h {
		t.Fatal("histogram changed in the round trip")
	}
	if _, err := HistogramFrom([]Bucket{{LowerUS: 257, Count: 1}}, 0, 0, 0); err == nil {
		t.Fatal("a lower bound off the layout must be refused")
	}
}

func TestNegativeDelayIsClockSkewNotZero(t *testing.T) {
	start := time.Unix(1000, 0)
	ts := NewTrackStats(KindAudio, 48000, WithStart(start))
	// The sender's clock is 30 ms ahead: every packet seems to arrive
	// before it was sent.
	for i := 0; i < 10; i++ {
		now := start.Add(time.Duration(i) * 20 * time.Millisecond)
		ts.OnPacket(PacketInfo{SequenceNumber: uint16(i), Timestamp: uint32(i * 960), CaptureTime: now.Add(30 * time.Millisecond)}, now)
	}
	s := ts.Snapshot()
	if s.Latency.Count() != 0 || s.ClockSkewed != 10 || s.MaxClockSkew != 30*time.Millisecond {
		t.Fatalf("latency samples %d, skewed %d, max skew %v", s.Latency.Count(), s.ClockSkewed, s.MaxClockSkew)
	}
}
