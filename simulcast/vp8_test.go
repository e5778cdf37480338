package simulcast

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pion/rtp"
)

func TestParseVP8(t *testing.T) {
	buf := make([]byte, 1500)
	tests := []struct {
		name    string
		payload []byte
		want    VP8Descriptor
		err     error
	}{
		{"empty", nil, VP8Descriptor{}, ErrVP8Truncated},
		{"minimal non-start", []byte{0x00, 0xaa}, VP8Descriptor{Size: 1}, nil},
		{"minimal keyframe start without size header", []byte{0x10, 0x10, 0x02}, VP8Descriptor{Size: 1, S: true, Keyframe: true}, nil},
		{"start of interframe", []byte{0x10, 0x11}, VP8Descriptor{Size: 1, S: true}, nil},
		{"start in partition 1 is not a keyframe start", []byte{0x11, 0x10}, VP8Descriptor{Size: 1, S: true, PID: 1}, nil},
		{"X truncated", []byte{0x80}, VP8Descriptor{}, ErrVP8Truncated},
		{"I truncated", []byte{0x80, 0x80}, VP8Descriptor{}, ErrVP8Truncated},
		{"M truncated", []byte{0x80, 0x80, 0x81}, VP8Descriptor{}, ErrVP8Truncated},
		{"L truncated", []byte{0x80, 0x40}, VP8Descriptor{}, ErrVP8Truncated},
		{"T truncated", []byte{0x80, 0x20}, VP8Descriptor{}, ErrVP8Truncated},
		{"K truncated", []byte{0x80, 0xc0, 0x05}, VP8Descriptor{}, ErrVP8Truncated},
		{"7-bit pid", []byte{0x80, 0x80, 0x7f}, VP8Descriptor{Size: 3, X: true, I: true, PictureID: 127}, nil},
		{"all fields", []byte{0xb0, 0xf0, 0x92, 0x34, 0x07, 0x65},
			VP8Descriptor{Size: 6, X: true, N: true, S: true, I: true, L: true, T: true, K: true,
				PictureID: 0x1234, PictureID15: true, TL0PICIDX: 7, TID: 1, Y: true, KEYIDX: 5}, nil},
		{"keyframe with size", vp8Packet(buf, true, true, true, 300, 9, 0),
			VP8Descriptor{Size: 6, X: true, S: true, I: true, L: true, T: true, PictureID: 300, PictureID15: true,
				TL0PICIDX: 9, Keyframe: true, Width: 640, Height: 360}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVP8(tt.payload)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestRewriteVP8WidensPictureID(t *testing.T) {
	in := vp8Packet(make([]byte, 100), true, false, false, 100, 4, 40)
	d, err := ParseVP8(in)
	if err != nil {
		t.Fatal(err)
	}
	var m Meta
	if err := (VP8{}).Parse(&rtp.Header{}, in, &m); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 1500)
	out, err := VP8{}.Rewrite(dst, in, &m, 1000, 77)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseVP8(out)
	if err != nil {
		t.Fatal(err)
	}
	if !got.PictureID15 || got.PictureID != 1000 || got.TL0PICIDX != 77 || got.S != d.S || got.TID != d.TID {
		t.Errorf("rewritten descriptor %+v", got)
	}
	if !bytes.Equal(out[got.Size:], in[d.Size:]) {
		t.Errorf("VP8 payload changed")
	}
	if _, err := (VP8{}).Rewrite(dst[:10], in, &m, 1, 1); !errors.Is(err, ErrBufferTooSmall) {
		t.Errorf("short dst: err = %v", err)
	}
}

func TestParseVP8DoesNotAllocate(t *testing.T) {
	p := vp8Packet(make([]byte, 1500), true, true, true, 5, 1, 1200)
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseVP8(p) }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}

func FuzzParseVP8(f *testing.F) {
	buf := make([]byte, 1500)
	f.Add([]byte{})
	f.Add([]byte{0x90, 0xf0, 0x80})
	f.Add(append([]byte(nil), vp8Packet(buf, true, true, true, 300, 9, 0)...))
	f.Add(append([]byte(nil), vp8Packet(buf, true, true, false, 30, 9, 20)...))
	f.Add(append([]byte(nil), vp8Packet(buf, false, false, true, 301, 9, 20)...))
	for _, p := range [][]byte{chromeKeyframe, chromeInterStart, nonReference, noPictureID, noExtension, sevenBitKeyframe} {
		f.Add(p)
	}
	dst := make([]byte, 1600)
	f.Fuzz(func(t *testing.T, p []byte) {
		// The Codec the Receiver parses with agrees with the descriptor
		// parser, and neither panics on anything.
		var m Meta
		cerr := VP8{}.Parse(&rtp.Header{}, p, &m)
		d, err := ParseVP8(p)
		if len(p) == 0 {
			if cerr != nil || !m.Padding {
				t.Fatalf("empty payload: %+v %v", m, cerr)
			}
			return
		}
		if (cerr == nil) != (err == nil) {
			t.Fatalf("Codec.Parse err %v, ParseVP8 err %v", cerr, err)
		}
		if err != nil {
			return
		}
		if m.Keyframe != d.Keyframe || m.SwitchPoint != d.Keyframe || m.HasPictureID != d.I || m.PictureID != d.PictureID ||
			m.HasTL0PICIDX != d.L || m.TL0PICIDX != d.TL0PICIDX || m.Temporal != d.TID || m.NonReference != d.N {
			t.Fatalf("Meta %+v disagrees with descriptor %+v", m, d)
		}
		if d.Size > len(p) {
			t.Fatalf("Size %d beyond payload %d", d.Size, len(p))
		}
		// Rewriting renumbers the picture ID (widened to 15 bits) and
		// TL0PICIDX and keeps every other field and the bitstream.
		out, err := VP8{}.Rewrite(dst, p, &m, d.PictureID+1, d.TL0PICIDX+1)
		if err != nil {
			if len(p)+2 <= len(dst) {
				t.Fatalf("rewrite failed: %v", err)
			}
			return
		}
		if !d.I && !d.L {
			// Nothing to renumber: the input goes out untouched.
			if &out[0] != &p[0] {
				t.Fatalf("Codec.Rewrite copied a payload without picture ID or TL0PICIDX")
			}
			return
		}
		d2, err := ParseVP8(out)
		if err != nil {
			t.Fatalf("rewritten payload does not parse: %v", err)
		}
		if d.I && (d2.PictureID != (d.PictureID+1)&0x7fff || !d2.PictureID15) || d.L && d2.TL0PICIDX != d.TL0PICIDX+1 ||
			d2.Keyframe != d.Keyframe || d2.N != d.N || d2.S != d.S || d2.PID != d.PID || d2.TID != d.TID || d2.Y != d.Y || d2.KEYIDX != d.KEYIDX {
			t.Fatalf("rewrite lost fields: %+v -> %+v", d, d2)
		}
		if !bytes.Equal(out[d2.Size:], p[d.Size:]) {
			t.Fatalf("rewrite changed the bitstream")
		}
	})
}
