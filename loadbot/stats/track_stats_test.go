package stats

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func at(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }

func TestJitterMatchesHandComputation(t *testing.T) {
	// Timestamps 10 ms apart arriving at 0, 12, 19, 35 ms:
	// |D| = 2, 3, 6 → J = 2/16 = 0.125
	//                → J += (3 - 0.125)/16 = 0.3046875
	//                → J += (6 - 0.3046875)/16 = 0.66064453125 (ms)
	const want = 0.66064453125
	arrivals := []float64{0, 12, 19, 35}
	for _, rate := range []uint32{1000, 48000, 90000} {
		s := NewTrackStats(KindAudio, rate)
		// Start near the top of the timestamp space: wrap must not matter.
		base := uint32(math.MaxUint32 - 15*rate/1000)
		for i, a := range arrivals {
			s.OnPacket(PacketInfo{SequenceNumber: uint16(i), Timestamp: base + uint32(i)*10*rate/1000}, at(a))
		}
		snap := s.Snapshot()
		if math.Abs(snap.JitterMs-want) > 1e-9 {
			t.Errorf("clock %d Hz: jitter = %.12f ms, want %.12f", rate, snap.JitterMs, want)
		}
	}
}

func TestJitterIgnoresDuplicates(t *testing.T) {
	s := NewTrackStats(KindAudio, 1000)
	s.OnPacket(PacketInfo{SequenceNumber: 1, Timestamp: 0}, at(0))
	s.OnPacket(PacketInfo{SequenceNumber: 2, Timestamp: 10}, at(10))
	s.OnPacket(PacketInfo{SequenceNumber: 2, Timestamp: 10}, at(500)) // retransmission copy
	if j := s.Snapshot().JitterMs; j != 0 {
		t.Fatalf("jitter = %v, want 0", j)
	}
}

func TestLossAcrossWrapWithRetransmissions(t *testing.T) {
	s := NewTrackStats(KindAudio, 48000)
	const first = 65530
	send := func(off int, ms float64) {
		s.OnPacket(PacketInfo{SequenceNumber: uint16(first + off), Timestamp: uint32(off * 960), PayloadLen: 100}, at(ms))
	}
	// 20 packets over the wrap: 3 never arrives, 8 arrives late by NACK,
	// 5 arrives twice, 10 and 12 swap places.
	for off := 0; off < 20; off++ {
		switch off {
		case 3, 8:
			continue
		case 10:
			send(12, float64(off*20))
		case 12:
			send(10, float64(off*20))
		default:
			send(off, float64(off*20))
		}
		if off == 5 {
			send(5, float64(off*20)+1)
		}
	}
	send(8, 500) // the retransmission
	mid := s.Snapshot()
	if mid.PacketsLost != 0 {
		t.Fatalf("before Finish nothing left the window, lost = %d", mid.PacketsLost)
	}
	s.Finish(at(1000))
	s.Finish(at(1000)) // idempotent
	got := s.Snapshot()
	if got.PacketsExpected != 20 || got.PacketsReceived != 19 || got.PacketsLost != 1 || got.Duplicates != 1 {
		t.Fatalf("expected/received/lost/dup = %d/%d/%d/%d, want 20/19/1/1",
			got.PacketsExpected, got.PacketsReceived, got.PacketsLost, got.Duplicates)
	}
	if l := got.LossPct(); l != 5 {
		t.Fatalf("loss = %v%%, want 5", l)
	}
	if got.Bytes != 1900 {
		t.Fatalf("bytes = %d, want 1900 (duplicates not counted)", got.Bytes)
	}
	send(3, 2000) // after Finish: late, changes nothing
	if after := s.Snapshot(); after.PacketsLost != 1 || after.Late != 1 {
		t.Fatalf("after Finish lost/late = %d/%d", after.PacketsLost, after.Late)
	}
}

func TestLossDeclaredWhenLeavingWindow(t *testing.T) {
	s := NewTrackStats(KindAudio, 48000)
	const hole = 100
	seq := uint16(60000)
	for i := 0; i <= hole+windowSize; i++ {
		if i != hole {
			s.OnPacket(PacketInfo{SequenceNumber: seq + uint16(i)}, at(float64(i)))
		}
		wantLost := uint64(0)
		if i >= hole+windowSize {
			wantLost = 1
		}
		if got := s.Snapshot().PacketsLost; got != wantLost {
			t.Fatalf("after offset %d lost = %d, want %d", i, got, wantLost)
		}
	}
	// Too late to count: the hole was already declared lost.
	s.OnPacket(PacketInfo{SequenceNumber: seq + hole}, at(5000))
	snap := s.Snapshot()
	if snap.Late != 1 || snap.PacketsReceived != hole+windowSize {
		t.Fatalf("late/received = %d/%d", snap.Late, snap.PacketsReceived)
	}
}

func TestLossJumpWiderThanWindow(t *testing.T) {
	s := NewTrackStats(KindAudio, 48000)
	s.OnPacket(PacketInfo{SequenceNumber: 65000}, at(0))
	s.OnPacket(PacketInfo{SequenceNumber: (65000 + 5000) % 65536}, at(1)) // wraps to 3464
	s.Finish(at(2))
	snap := s.Snapshot()
	if snap.PacketsExpected != 5001 || snap.PacketsLost != 4999 || snap.PacketsReceived != 2 {
		t.Fatalf("expected/lost/received = %d/%d/%d", snap.PacketsExpected, snap.PacketsLost, snap.PacketsReceived)
	}
}

// videoFrames sends n frames of 3 packets, 33 ms apart, skipping the
// packet offsets in drop, and returns the next sequence offset.
func videoFrames(s *TrackStats, seq0 uint16, n int, drop map[int]bool) {
	for f := 0; f < n; f++ {
		for p := 0; p < 3; p++ {
			off := f*3 + p
			if drop[off] {
				continue
			}
			s.OnPacket(PacketInfo{
				SequenceNumber: seq0 + uint16(off),
				Timestamp:      uint32(f * 3000),
				Marker:         p == 2,
				Keyframe:       off == 0,
				PayloadLen:     1000,
				CaptureTime:    at(float64(f) * 33),
			}, at(float64(f)*33+20))
		}
	}
}

func TestFramesCompleteOnlyWhenWhole(t *testing.T) {
	s := NewTrackStats(KindVideo, 90000, WithStart(at(-100)))
	// Frame 4 loses its middle packet, frame 6 its marker: the decoder
	// stops at frame 4, and the frames after it wait for the repairs.
	videoFrames(s, 65530, 10, map[int]bool{13: true, 20: true})
	if got := s.Snapshot().Frames; got != 4 {
		t.Fatalf("frames = %d, want 4 (frame 4 incomplete, the rest behind it)", got)
	}
	s.OnPacket(PacketInfo{SequenceNumber: (65530 + 13) % 65536, Timestamp: 4 * 3000, PayloadLen: 1000}, at(400))
	if got := s.Snapshot().Frames; got != 6 {
		t.Fatalf("frames after the first repair = %d, want 6 (up to frame 6's missing marker)", got)
	}
	s.OnPacket(PacketInfo{SequenceNumber: (65530 + 20) % 65536, Timestamp: 6 * 3000, Marker: true, PayloadLen: 1000}, at(401))
	snap := s.Snapshot()
	if snap.Frames != 10 {
		t.Fatalf("frames after retransmission = %d, want 10", snap.Frames)
	}
	if snap.TimeToFirstFrame != 120*time.Millisecond {
		t.Fatalf("time to first frame = %v, want 120ms", snap.TimeToFirstFrame)
	}
	// The two retransmissions above carry no capture time.
	if snap.Latency.Count() != 28 || snap.Latency.Quantile(0.5) != 20*time.Millisecond {
		t.Fatalf("latency count %d p50 %v", snap.Latency.Count(), snap.Latency.Quantile(0.5))
	}
}

func TestFreezeFromPacketGap(t *testing.T) {
	s := NewTrackStats(KindVideo, 90000)
	now := t0
	seq := uint16(0)
	frame := func(ts uint32) {
		s.OnPacket(PacketInfo{SequenceNumber: seq, Timestamp: ts, Marker: true, Keyframe: seq == 0, PayloadLen: 900}, now)
		seq++
	}
	for i := 0; i < 60; i++ {
		frame(uint32(i * 3000))
		now = now.Add(time.Second / 30)
	}
	now = now.Add(500*time.Millisecond - time.Second/30)
	for i := 60; i < 120; i++ {
		frame(uint32(i * 3000))
		now = now.Add(time.Second / 30)
	}
	snap := s.Snapshot()
	if snap.FreezeCount != 1 || snap.FreezeDuration != 500*time.Millisecond {
		t.Fatalf("freezes = %d / %v, want 1 / 500ms", snap.FreezeCount, snap.FreezeDuration)
	}
	if fr := snap.FrameRate(); fr < 25 || fr > 30 {
		t.Fatalf("frame rate = %.1f", fr)
	}
}

func TestLayerTimeFollowsKeyframes(t *testing.T) {
	s := NewTrackStats(KindVideo, 90000)
	seq := uint16(0)
	pkt := func(ms float64, layer string, w int) {
		s.OnPacket(PacketInfo{SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true, PayloadLen: 1250,
			Keyframe: w > 0, KeyframeWidth: w, KeyframeHeight: w * 9 / 16, Layer: layer}, at(ms))
		seq++
	}
	pkt(0, "q", 320)
	pkt(1000, "", 0)
	pkt(2000, "f", 1280) // switch: 2 s on q
	pkt(2500, "f", 1280) // same layer again: no switch
	pkt(3000, "", 0)
	s.Finish(at(5000)) // 3 s on f
	snap := s.Snapshot()
	want := LayerTime{Q: 2 * time.Second, F: 3 * time.Second}
	if snap.LayerTime != want {
		t.Fatalf("layer time = %+v, want %+v", snap.LayerTime, want)
	}
	if snap.Layer != LayerF || snap.LayerSwitches != 1 || snap.Width != 1280 {
		t.Fatalf("layer %v switches %d width %d", snap.Layer, snap.LayerSwitches, snap.Width)
	}
	// 5 packets × 1250 B over 3 s of packets = 16.67 kbps.
	if br := snap.BitrateKbps(); math.Abs(br-50.0/3) > 1e-9 {
		t.Fatalf("bitrate = %v", br)
	}
}

func TestCountersAndAggregate(t *testing.T) {
	a := NewTrackStats(KindVideo, 90000)
	b := NewTrackStats(KindAudio, 48000)
	a.AddNACKs(3)
	a.AddPLI()
	videoFrames(a, 0, 30, map[int]bool{4: true})
	for i := 0; i < 50; i++ {
		b.OnPacket(PacketInfo{SequenceNumber: uint16(i), Timestamp: uint32(i * 960), CaptureTime: at(float64(i * 20))}, at(float64(i*20)+40))
	}
	a.Finish(at(2000))
	b.Finish(at(2000))
	var agg Aggregate
	sa, sb := a.Snapshot(), b.Snapshot()
	agg.Add(&sa)
	agg.Add(&sb)
	if agg.NACKsSent != 3 || agg.PLIsSent != 1 || agg.Tracks != 2 || agg.VideoTracks != 1 {
		t.Fatalf("agg = %+v", agg)
	}
	if agg.PacketsExpected != 140 || agg.PacketsLost != 1 {
		t.Fatalf("expected/lost = %d/%d", agg.PacketsExpected, agg.PacketsLost)
	}
	if agg.Latency.Count() != 89+50 {
		t.Fatalf("latency samples = %d", agg.Latency.Count())
	}
	prev := agg
	var more Aggregate
	more.Merge(&agg)
	more.Add(&sb)
	d := more.Sub(&prev)
	if d.Latency.Count() != 50 || d.PacketsExpected != 50 || d.NACKsSent != 0 {
		t.Fatalf("interval = %d samples, %d expected", d.Latency.Count(), d.PacketsExpected)
	}
}

func TestOnPacketDoesNotAllocate(t *testing.T) {
	s := NewTrackStats(KindVideo, 90000)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		s.OnPacket(PacketInfo{SequenceNumber: uint16(i), Timestamp: uint32(i/3) * 3000, Marker: i%3 == 2,
			PayloadLen: 1200, CaptureTime: at(float64(i)), Keyframe: i%300 == 0, KeyframeWidth: 640, Layer: "h"}, at(float64(i)+30))
		i++
	})
	if allocs != 0 {
		t.Fatalf("OnPacket allocates %.1f times", allocs)
	}
}

func BenchmarkOnPacket(b *testing.B) {
	s := NewTrackStats(KindVideo, 90000)
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Millisecond)
		if i%50 == 7 {
			continue // some loss, so frame checks take the slow path too
		}
		s.OnPacket(PacketInfo{SequenceNumber: uint16(i), Timestamp: uint32(i/4) * 3000, Marker: i%4 == 3,
			PayloadLen: 1200, CaptureTime: now.Add(-20 * time.Millisecond), Keyframe: i%400 == 0,
			KeyframeWidth: 1280, KeyframeHeight: 720, Layer: "f"}, now)
	}
}

// Time to the top layer runs from the first frame to the first keyframe of
// f; a track that never gets there has not reached it.
func TestTimeToTopLayer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		layers  []string // a keyframe of each, 1 s apart
		reached bool
		want    time.Duration
	}{
		{"starts on f", []string{"f", "f"}, true, 0},
		{"q then h then f", []string{"q", "h", "f", "h"}, true, 2 * time.Second},
		{"f after a step down counts the first f", []string{"q", "f", "q", "f"}, true, time.Second},
		{"never on f", []string{"q", "h", "q"}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewTrackStats(KindVideo, 90000, WithStart(at(-200)))
			for i, l := range tc.layers {
				s.OnPacket(PacketInfo{SequenceNumber: uint16(i), Timestamp: uint32(i) * 90000, Marker: true,
					PayloadLen: 1000, Keyframe: true, KeyframeWidth: 320, KeyframeHeight: 180, Layer: l}, at(float64(i)*1000))
			}
			snap := s.Snapshot()
			if snap.ReachedTop != tc.reached || snap.TimeToTop != tc.want {
				t.Fatalf("reached %v after %v, want %v after %v", snap.ReachedTop, snap.TimeToTop, tc.reached, tc.want)
			}
		})
	}
}
