package loadbot

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestVP8FramesCarryLayerResolutionAndBitrate(t *testing.T) {
	for _, l := range DefaultLayers() {
		s := newVP8Stream(l, 42)
		var bytes, packets, frames, keys int
		var lastPID = -1
		write := func(p *rtp.Packet) error {
			if len(p.Payload) > maxRTPPayload {
				t.Fatalf("%s: payload of %d bytes", l.RID, len(p.Payload))
			}
			info, ok := parseVP8(p.Payload)
			if !ok {
				t.Fatalf("%s: unparsable payload", l.RID)
			}
			if info.frameStart {
				frames++
				if info.pictureID == lastPID {
					t.Fatalf("%s: PictureID %d repeated across frames", l.RID, info.pictureID)
				}
				lastPID = info.pictureID
			}
			if info.keyframe {
				keys++
				if info.width != l.Width || info.height != l.Height || layerForWidth(DefaultLayers(), info.width) != l.RID {
					t.Fatalf("%s: keyframe says %dx%d", l.RID, info.width, info.height)
				}
			}
			bytes += len(p.Payload) + 40 // RTP + SRTP + UDP/IP, as the budget assumes
			packets++
			return nil
		}
		for i := 0; i < l.FPS; i++ { // one second
			if err := s.writeFrame(i == 0, extIDs{}, nil, nil, write); err != nil {
				t.Fatal(err)
			}
		}
		kbps := float64(bytes*8) / 1000
		if frames != l.FPS || keys != 1 {
			t.Fatalf("%s: %d frames, %d keyframes", l.RID, frames, keys)
		}
		// One keyframe per second costs extra; within 25% of the target.
		if kbps < float64(l.BitrateKbps)*0.9 || kbps > float64(l.BitrateKbps)*1.25 {
			t.Fatalf("%s: %.0f kbps on the wire, want ~%d", l.RID, kbps, l.BitrateKbps)
		}
	}
}

func TestNTPRoundTrip(t *testing.T) {
	now := time.Now()
	got := time.Unix(0, fromNTP(toNTP(now)))
	if d := got.Sub(now); d > time.Microsecond || d < -time.Microsecond {
		t.Fatalf("round trip off by %v", d)
	}
}

func TestStampSetsAbsCaptureTime(t *testing.T) {
	var h rtp.Header
	var buf [8]byte
	now := time.Now()
	extIDs{mid: 1, rid: 2, absCapture: 3}.stamp(&h, []byte("0"), []byte("q"), buf[:], now)
	raw, err := (&rtp.Packet{Header: h, Payload: []byte{0}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	if string(p.GetExtension(1)) != "0" || string(p.GetExtension(2)) != "q" || len(p.GetExtension(3)) != 8 {
		t.Fatalf("extensions %v", p.Extensions)
	}
}

func BenchmarkParseVP8(b *testing.B) {
	s := newVP8Stream(DefaultLayers()[2], 1)
	var payload []byte
	_ = s.writeFrame(true, extIDs{}, nil, nil, func(p *rtp.Packet) error {
		if payload == nil {
			payload = append([]byte(nil), p.Payload...)
		}
		return nil
	})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := parseVP8(payload); !ok {
			b.Fatal("parse")
		}
	}
}

func BenchmarkWriteFrame(b *testing.B) {
	s := newVP8Stream(DefaultLayers()[2], 1)
	ids := extIDs{mid: 1, rid: 2, absCapture: 3}
	mid, rid := []byte("1"), []byte("f")
	write := func(*rtp.Packet) error { return nil }
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = s.writeFrame(false, ids, mid, rid, write)
	}
}
