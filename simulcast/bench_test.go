package simulcast

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

func benchForwarder(b *testing.B, wide, switched bool) {
	f := NewForwarder(DefaultConfig(), 90000, VP8{})
	dst := make([]byte, 1500)
	buf := make([]byte, 1500)
	hdr := rtp.Header{SequenceNumber: 1, Timestamp: 1000, SSRC: 1}
	now := t0
	f.SetTarget(0, now)
	accept(f, 0, &hdr, vp8Packet(buf, true, true, wide, 1, 1, 1100), now, dst)
	if switched {
		// A switch leaves non-zero picture ID offsets: every packet
		// after it needs the copy into dst.
		f.SetTarget(1, now)
		h1 := rtp.Header{SequenceNumber: 9000, Timestamp: 77}
		accept(f, 1, &h1, vp8Packet(buf, true, true, wide, 500, 9, 1100), now, dst)
		hdr = h1
	}
	payload := vp8Packet(buf, false, false, wide, 501, 9, 1100)
	// The Receiver parses once per packet; what each subscriber pays is
	// Accept (BenchmarkCodecParse has the parse).
	var m Meta
	if err := f.codec.Parse(&hdr, payload, &m); err != nil {
		b.Fatal(err)
	}
	layer := f.CurrentLayer()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		hdr.SequenceNumber++
		if i%4 == 0 {
			hdr.Timestamp += 3000
			now = now.Add(33 * time.Millisecond)
		}
		if _, v := f.Accept(layer, &hdr, payload, &m, now, dst); v != Forward {
			b.Fatal(v)
		}
	}
}

func BenchmarkForwarderAccept(b *testing.B) {
	b.Run("single_layer_passthrough", func(b *testing.B) { benchForwarder(b, true, false) })
	b.Run("vp8_rewrite_after_switch", func(b *testing.B) { benchForwarder(b, true, true) })
	b.Run("vp8_rewrite_7bit_pid", func(b *testing.B) { benchForwarder(b, false, false) })
	b.Run("audio", func(b *testing.B) {
		f := NewForwarder(DefaultConfig(), 48000, Passthrough{})
		hdr := rtp.Header{}
		payload := make([]byte, 100)
		var m Meta
		_ = Passthrough{}.Parse(&hdr, payload, &m)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			hdr.SequenceNumber++
			hdr.Timestamp += 960
			if _, v := f.Accept(0, &hdr, payload, &m, t0, nil); v != Forward {
				b.Fatal(v)
			}
		}
	})
}

// BenchmarkCodecParse is the once-per-packet cost the Receiver pays before
// the fan-out, whatever the number of subscribers.
func BenchmarkCodecParse(b *testing.B) {
	hdr := rtp.Header{Marker: true}
	for _, c := range []struct {
		name    string
		codec   Codec
		payload []byte
	}{
		{"vp8_keyframe", VP8{}, vp8Packet(nil, true, true, true, 300, 9, 1100)},
		{"vp8_interframe", VP8{}, vp8Packet(nil, false, false, true, 301, 9, 1100)},
		{"passthrough", Passthrough{}, make([]byte, 100)},
	} {
		b.Run(c.name, func(b *testing.B) {
			var m Meta
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := c.codec.Parse(&hdr, c.payload, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSelectorDecide(b *testing.B) {
	s := NewSelector(DefaultConfig())
	x := in(600_000)
	now := t0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		now = now.Add(100 * time.Millisecond)
		x.Budget = 400_000 + int64(i%8)*100_000
		s.Decide(x, now)
	}
}

func BenchmarkAllocate(b *testing.B) {
	a := NewAllocator(DefaultConfig())
	ts := demands(8)
	out := make([]int64, 0, len(ts))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		out = a.Allocate(4_000_000+int64(i%16)*100_000, 256_000, ts, out)
	}
}
