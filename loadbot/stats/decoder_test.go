package stats

import (
	"testing"
	"time"
)

// testStream is video of 3-packet frames 33 ms apart: packet offset o
// belongs to frame o/3; the frames in key are keyframes.
type testStream struct {
	s    *TrackStats
	seq0 uint16
	key  map[int]bool
}

func (ts *testStream) send(off int, now time.Time) {
	f := off / 3
	ts.s.OnPacket(PacketInfo{
		SequenceNumber: ts.seq0 + uint16(off),
		Timestamp:      uint32(f * 3000),
		Marker:         off%3 == 2,
		Keyframe:       off%3 == 0 && ts.key[f],
		PayloadLen:     1000,
	}, now)
}

// ext is the extended sequence number of offset off (for GiveUp).
func (ts *testStream) ext(off int) int64 { return extBase + int64(ts.seq0) + int64(off) }

func span(from, to int, except ...int) []int {
	var out []int
next:
	for o := from; o <= to; o++ {
		for _, e := range except {
			if o == e {
				continue next
			}
		}
		out = append(out, o)
	}
	return out
}

func TestDecoderRendersWhatABrowserWould(t *testing.T) {
	type step struct {
		send    []int // packet offsets, in arrival order
		giveUp  []int
		frames  uint64 // decoded so far
		needKey bool
	}
	for _, tc := range []struct {
		name  string
		key   []int // keyframe frame indexes
		steps []step
	}{
		{"nothing decodes before the first keyframe", []int{2}, []step{
			{send: span(0, 5), frames: 0, needKey: true},
			{send: span(6, 6), frames: 0, needKey: false}, // the keyframe is on its way
			{send: span(7, 8), frames: 1},
			{send: span(9, 11), frames: 2},
		}},
		{"frames wait for a repair and then decode in a burst", []int{0}, []step{
			{send: span(0, 11, 4), frames: 1},
			{send: []int{4}, frames: 4},
		}},
		{"a loss given up stops decoding until the next keyframe", []int{0, 4}, []step{
			{send: span(0, 11, 4), frames: 1},
			{giveUp: []int{4}, frames: 1, needKey: true},
			{send: []int{4}, frames: 1, needKey: true}, // too late: the decoder moved on
			{send: []int{12}, frames: 1},
			{send: span(13, 14), frames: 2},
			{send: span(15, 17), frames: 3},
		}},
		{"a complete keyframe overtakes a frame still waiting for a repair", []int{0, 3}, []step{
			{send: span(0, 14, 4), frames: 3}, // 0, then keyframe 3 and frame 4
			{send: []int{4}, frames: 3},       // frames 1 and 2 are never shown
		}},
		{"a loss inside the keyframe on its way asks for another", []int{0, 2, 4}, []step{
			{send: span(0, 5, 4), frames: 1},
			{giveUp: []int{4}, needKey: true, frames: 1},
			{send: []int{6, 8}, frames: 1},
			{giveUp: []int{7}, needKey: true, frames: 1},
			{send: span(9, 11), needKey: true, frames: 1},
			{send: span(12, 14), frames: 2},
		}},
		{"giving up a packet that arrived changes nothing", []int{0}, []step{
			{send: span(0, 5), frames: 2},
			{giveUp: []int{4}, frames: 2},
		}},
		{"giving up a packet of a frame already skipped changes nothing", []int{0, 3}, []step{
			{send: span(0, 11, 4), frames: 2},
			{giveUp: []int{4}, frames: 2},
			{send: span(12, 14), frames: 3},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := &testStream{s: NewTrackStats(KindVideo, 90000), seq0: 65500, key: map[int]bool{}}
			for _, k := range tc.key {
				ts.key[k] = true
			}
			now := t0
			for i, st := range tc.steps {
				for _, o := range st.send {
					now = now.Add(time.Millisecond)
					ts.send(o, now)
				}
				for _, o := range st.giveUp {
					ts.s.GiveUp(ts.ext(o))
				}
				if got := ts.s.Snapshot().Frames; got != st.frames {
					t.Fatalf("step %d: frames = %d, want %d", i, got, st.frames)
				}
				if got := ts.s.NeedKeyframe(); got != st.needKey {
					t.Fatalf("step %d: need keyframe = %v, want %v", i, got, st.needKey)
				}
			}
		})
	}
}

func TestPaddingBetweenFramesDoesNotStallTheDecoder(t *testing.T) {
	s := NewTrackStats(KindVideo, 90000)
	seq := uint16(0)
	pkt := func(ts uint32, marker, key bool, payload int) {
		s.OnPacket(PacketInfo{SequenceNumber: seq, Timestamp: ts, Marker: marker, Keyframe: key, PayloadLen: payload}, at(float64(seq)))
		seq++
	}
	pkt(0, false, true, 1000)
	pkt(0, true, false, 1000)
	pkt(0, false, false, 0) // a probe's padding, after the frame
	pkt(0, false, false, 0)
	pkt(3000, true, false, 1000)
	if f := s.Snapshot().Frames; f != 2 {
		t.Fatalf("frames = %d, want 2", f)
	}
}

func TestPacketLeavingTheWindowStopsDecoding(t *testing.T) {
	ts := &testStream{s: NewTrackStats(KindVideo, 90000), key: map[int]bool{0: true}}
	now := t0
	for o := 0; o < windowSize+30; o++ {
		if o == 4 {
			continue
		}
		now = now.Add(time.Millisecond)
		ts.send(o, now)
	}
	if f, need := ts.s.Snapshot().Frames, ts.s.NeedKeyframe(); f != 1 || !need {
		t.Fatalf("frames %d, need keyframe %v; want 1 and true", f, need)
	}
}

func TestUnrepairedLossFreezesUntilTheKeyframe(t *testing.T) {
	// 30 fps; frame 30 loses a packet for good at frame 33's time, the
	// keyframe the PLI asked for is frame 45: the picture stands still
	// from frame 29 to frame 45, 16 frame times.
	ts := &testStream{s: NewTrackStats(KindVideo, 90000), key: map[int]bool{0: true, 45: true}}
	frameAt := func(f int) time.Time { return t0.Add(time.Duration(f) * time.Second / 30) }
	for f := 0; f < 60; f++ {
		for p := 0; p < 3; p++ {
			if o := f*3 + p; o != 91 {
				ts.send(o, frameAt(f))
			}
		}
		if f == 33 {
			ts.s.GiveUp(ts.ext(91))
		}
	}
	snap := ts.s.Snapshot()
	if snap.Frames != 30+15 {
		t.Fatalf("frames = %d, want 45 (0–29 and 45–59)", snap.Frames)
	}
	if want := frameAt(45).Sub(frameAt(29)); snap.FreezeCount != 1 || snap.FreezeDuration != want {
		t.Fatalf("freezes %d / %v, want 1 / %v", snap.FreezeCount, snap.FreezeDuration, want)
	}
}
