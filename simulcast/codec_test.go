package simulcast

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pion/rtp"
)

// Descriptors as Chromium sends them (libwebrtc's VP8 packetizer: X, I with
// a 15-bit picture ID, L and T), and the shapes other senders use.
var (
	// Keyframe start: S, PID 0; picture ID 0x1234, TL0PICIDX 7, TID 0 with
	// Y; then the payload header (P=0, show_frame) and the keyframe header
	// 9d 01 2a with 1280x720.
	chromeKeyframe = []byte{0x90, 0xe0, 0x92, 0x34, 0x07, 0x20, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02, 0xaa, 0xbb}
	// Interframe start: P=1 in the payload header.
	chromeInterStart = []byte{0x90, 0xe0, 0x92, 0x35, 0x07, 0x40, 0x11, 0x02, 0x00, 0xaa}
	// A later packet of the same frame: S=0.
	chromeContinuation = []byte{0x80, 0xe0, 0x92, 0x35, 0x07, 0x40, 0xcc, 0xdd}
	// Non-reference frame (N) on temporal layer 2.
	nonReference = []byte{0xb0, 0xe0, 0x80, 0x09, 0x03, 0x80, 0x11, 0x02, 0x00}
	// No picture ID, only TL0PICIDX and TID.
	noPictureID = []byte{0x90, 0x60, 0x05, 0x40, 0x11, 0x00}
	// No extension byte at all: nothing to renumber.
	noExtension = []byte{0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01}
	// 7-bit picture ID keyframe (older senders, some SFUs' test streams).
	sevenBitKeyframe = []byte{0x90, 0xc0, 0x45, 0x02, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}
)

func TestVP8Parse(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		marker  bool
		want    Meta
		err     error
	}{
		{"chrome keyframe", chromeKeyframe, false, Meta{SwitchPoint: true, Keyframe: true, FrameStart: true,
			HasPictureID: true, PictureIDBits: 15, PictureID: 0x1234, HasTL0PICIDX: true, TL0PICIDX: 7,
			HasTemporal: true, LayerSync: true, Width: 1280, Height: 720}, nil},
		{"interframe start is no switch point", chromeInterStart, false, Meta{FrameStart: true,
			HasPictureID: true, PictureIDBits: 15, PictureID: 0x1235, HasTL0PICIDX: true, TL0PICIDX: 7,
			HasTemporal: true, Temporal: 1}, nil},
		{"continuation ends the frame", chromeContinuation, true, Meta{FrameEnd: true,
			HasPictureID: true, PictureIDBits: 15, PictureID: 0x1235, HasTL0PICIDX: true, TL0PICIDX: 7,
			HasTemporal: true, Temporal: 1}, nil},
		{"non-reference frame", nonReference, true, Meta{FrameStart: true, FrameEnd: true, NonReference: true,
			HasPictureID: true, PictureIDBits: 15, PictureID: 9, HasTL0PICIDX: true, TL0PICIDX: 3,
			HasTemporal: true, Temporal: 2}, nil},
		{"no picture id", noPictureID, false, Meta{FrameStart: true, HasTL0PICIDX: true, TL0PICIDX: 5,
			HasTemporal: true, Temporal: 1}, nil},
		{"no extension keyframe", noExtension, false, Meta{SwitchPoint: true, Keyframe: true, FrameStart: true,
			Width: 640, Height: 360}, nil},
		{"7-bit picture id keyframe", sevenBitKeyframe, false, Meta{SwitchPoint: true, Keyframe: true, FrameStart: true,
			HasPictureID: true, PictureIDBits: 7, PictureID: 0x45, HasTL0PICIDX: true, TL0PICIDX: 2,
			Width: 320, Height: 240}, nil},
		{"keyframe start in partition 1 is no switch point", []byte{0x11, 0x10, 0x02}, false, Meta{}, nil},
		{"padding", nil, true, Meta{Padding: true, FrameEnd: true}, nil},
		{"X truncated", []byte{0x80}, false, Meta{}, ErrVP8Truncated},
		{"picture id truncated", []byte{0x90, 0x80}, false, Meta{}, ErrVP8Truncated},
		{"15-bit picture id truncated", chromeKeyframe[:3], false, Meta{}, ErrVP8Truncated},
		{"TL0PICIDX truncated", chromeKeyframe[:4], false, Meta{}, ErrVP8Truncated},
		{"TID truncated", chromeKeyframe[:5], false, Meta{}, ErrVP8Truncated},
		{"keyframe header cut short keeps no size", chromeKeyframe[:9], false, Meta{SwitchPoint: true, Keyframe: true,
			FrameStart: true, HasPictureID: true, PictureIDBits: 15, PictureID: 0x1234, HasTL0PICIDX: true,
			TL0PICIDX: 7, HasTemporal: true, LayerSync: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Start from garbage: Parse must not leave a field of a
			// previous packet behind.
			m := Meta{Keyframe: true, SwitchPoint: true, Width: 9, PictureID: 77}
			err := VP8{}.Parse(&rtp.Header{Marker: tt.marker}, tt.payload, &m)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && m != tt.want {
				t.Errorf("got  %+v\nwant %+v", m, tt.want)
			}
		})
	}
}

func TestVP8Rewrite(t *testing.T) {
	dst := make([]byte, 1500)
	tests := []struct {
		name     string
		payload  []byte
		pid      uint16
		tl0      uint8
		same     bool // the input itself comes back
		wantSize int  // descriptor size of the output
	}{
		{"15-bit id already right", chromeKeyframe, 0x1234, 7, true, 6},
		{"15-bit id renumbered", chromeKeyframe, 0x0100, 7, false, 6},
		{"TL0PICIDX renumbered", chromeContinuation, 0x1235, 200, false, 6},
		{"7-bit id widened even when equal", sevenBitKeyframe, 0x45, 2, false, 5},
		{"7-bit id renumbered past 127", sevenBitKeyframe, 0x7fff, 9, false, 5},
		{"no picture id: TL0PICIDX only", noPictureID, 0, 6, false, 4},
		{"no extension: nothing to write", noExtension, 5, 5, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in Meta
			if err := (VP8{}).Parse(&rtp.Header{}, tt.payload, &in); err != nil {
				t.Fatal(err)
			}
			out, err := VP8{}.Rewrite(dst, tt.payload, &in, tt.pid, tt.tl0)
			if err != nil {
				t.Fatal(err)
			}
			if same := len(out) > 0 && &out[0] == &tt.payload[0]; same != tt.same {
				t.Fatalf("returned the input: %v, want %v", same, tt.same)
			}
			var got Meta
			if err := (VP8{}).Parse(&rtp.Header{}, out, &got); err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			want := in
			if in.HasPictureID {
				want.PictureID, want.PictureIDBits = tt.pid&0x7fff, 15
			}
			if in.HasTL0PICIDX {
				want.TL0PICIDX = tt.tl0
			}
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			d, _ := ParseVP8(out)
			if d.Size != tt.wantSize {
				t.Errorf("descriptor size %d, want %d", d.Size, tt.wantSize)
			}
			inD, _ := ParseVP8(tt.payload)
			if !bytes.Equal(out[d.Size:], tt.payload[inD.Size:]) {
				t.Errorf("VP8 bitstream changed")
			}
		})
	}
	t.Run("dst too small", func(t *testing.T) {
		var m Meta
		_ = VP8{}.Parse(&rtp.Header{}, sevenBitKeyframe, &m)
		if _, err := (VP8{}).Rewrite(dst[:len(sevenBitKeyframe)], sevenBitKeyframe, &m, 1, 1); !errors.Is(err, ErrBufferTooSmall) {
			t.Errorf("err = %v, want ErrBufferTooSmall", err)
		}
	})
	t.Run("payload shorter than its meta", func(t *testing.T) {
		var m Meta
		_ = VP8{}.Parse(&rtp.Header{}, chromeKeyframe, &m)
		if _, err := (VP8{}).Rewrite(dst, chromeKeyframe[:3], &m, 1, 1); !errors.Is(err, ErrVP8Truncated) {
			t.Errorf("err = %v, want ErrVP8Truncated", err)
		}
	})
}

func TestPassthrough(t *testing.T) {
	for _, p := range [][]byte{nil, {0x00}, chromeKeyframe, {0xff, 0xff, 0xff}} {
		var m Meta
		if err := (Passthrough{}).Parse(&rtp.Header{Marker: true}, p, &m); err != nil {
			t.Fatal(err)
		}
		if want := (Meta{SwitchPoint: true, FrameEnd: true, Padding: len(p) == 0}); m != want {
			t.Errorf("%x: got %+v, want %+v", p, m, want)
		}
		out, err := Passthrough{}.Rewrite(make([]byte, 1500), p, &m, 1234, 5)
		if err != nil || !bytes.Equal(out, p) || len(p) > 0 && &out[0] != &p[0] {
			t.Errorf("%x: rewritten to %x, %v", p, out, err)
		}
	}
	if (Passthrough{}).Layered() || !(VP8{}).Layered() {
		t.Error("only VP8 switches layers")
	}
}

func TestCodecFor(t *testing.T) {
	for mime, want := range map[string]Codec{
		"video/VP8": VP8{}, "video/vp8": VP8{}, "video/H264": Passthrough{}, "audio/opus": Passthrough{}, "": Passthrough{},
	} {
		if got := CodecFor(mime); got != want {
			t.Errorf("CodecFor(%q) = %T, want %T", mime, got, want)
		}
	}
}

func TestCodecDoesNotAllocate(t *testing.T) {
	dst := make([]byte, 1500)
	var m Meta
	hdr := &rtp.Header{}
	for _, c := range []Codec{VP8{}, Passthrough{}} {
		if n := testing.AllocsPerRun(100, func() {
			_ = c.Parse(hdr, sevenBitKeyframe, &m)
			_, _ = c.Rewrite(dst, sevenBitKeyframe, &m, 300, 4)
		}); n != 0 {
			t.Errorf("%T: %v allocs", c, n)
		}
	}
}
