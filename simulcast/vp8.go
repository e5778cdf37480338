package simulcast

import (
	"encoding/binary"

	"github.com/pion/rtp"
)

// VP8Descriptor is a parsed VP8 RTP payload descriptor (RFC 7741 §4.2) plus,
// for the first packet of a keyframe, the frame size.
type VP8Descriptor struct {
	// Size is the descriptor's length in bytes: the VP8 payload follows.
	Size int

	X, N, S bool
	PID     uint8 // partition index

	I, L, T, K bool

	PictureID   uint16
	PictureID15 bool // M bit: PictureID is 15 bits, else 7
	TL0PICIDX   uint8
	TID         uint8
	Y           bool
	KEYIDX      uint8

	// Keyframe is set on the first packet of a keyframe: S=1, PID=0 and the
	// VP8 payload header's P bit is 0.
	Keyframe bool
	// Width and Height come from the keyframe header (0 when not a keyframe
	// start or when the packet is too short to hold it).
	Width, Height uint16
}

// ParseVP8 parses payload's VP8 payload descriptor. It never reads past
// payload and does not allocate.
func ParseVP8(payload []byte) (d VP8Descriptor, err error) {
	err = d.Unmarshal(payload)
	return d, err
}

// Unmarshal fills d from payload; on error d is partially filled and must
// not be used.
func (d *VP8Descriptor) Unmarshal(payload []byte) error {
	*d = VP8Descriptor{}
	if len(payload) < 1 {
		return ErrVP8Truncated
	}
	b := payload[0]
	d.X, d.N, d.S, d.PID = b&0x80 != 0, b&0x20 != 0, b&0x10 != 0, b&0x07
	i := 1
	if d.X {
		if len(payload) < 2 {
			return ErrVP8Truncated
		}
		x := payload[1]
		d.I, d.L, d.T, d.K = x&0x80 != 0, x&0x40 != 0, x&0x20 != 0, x&0x10 != 0
		i = 2
		if d.I {
			if len(payload) < i+1 {
				return ErrVP8Truncated
			}
			if payload[i]&0x80 != 0 {
				if len(payload) < i+2 {
					return ErrVP8Truncated
				}
				d.PictureID15 = true
				d.PictureID = binary.BigEndian.Uint16(payload[i:]) & 0x7fff
				i += 2
			} else {
				d.PictureID = uint16(payload[i])
				i++
			}
		}
		if d.L {
			if len(payload) < i+1 {
				return ErrVP8Truncated
			}
			d.TL0PICIDX = payload[i]
			i++
		}
		if d.T || d.K {
			if len(payload) < i+1 {
				return ErrVP8Truncated
			}
			t := payload[i]
			d.TID, d.Y, d.KEYIDX = t>>6, t&0x20 != 0, t&0x1f
			i++
		}
	}
	d.Size = i
	// An empty VP8 payload is legal framing-wise; it just cannot start a
	// keyframe.
	if d.S && d.PID == 0 && len(payload) > i && payload[i]&0x01 == 0 {
		d.Keyframe = true
		// 3-byte frame tag, start code 9d 01 2a, then 14-bit width and
		// height, little endian, the top 2 bits being scaling.
		if h := payload[i:]; len(h) >= 10 && h[3] == 0x9d && h[4] == 0x01 && h[5] == 0x2a {
			d.Width = binary.LittleEndian.Uint16(h[6:]) & 0x3fff
			d.Height = binary.LittleEndian.Uint16(h[8:]) & 0x3fff
		}
	}
	return nil
}

// VP8 is the Codec of VP8 (RFC 7741): keyframes are the switch points, and
// picture IDs and TL0PICIDX are renumbered so that a stream stitched from
// several layers counts on without a jump.
type VP8 struct{}

// Parse fills m from the payload descriptor and, on a keyframe's first
// packet, the frame size. A packet without payload is padding.
func (VP8) Parse(hdr *rtp.Header, payload []byte, m *Meta) error {
	if len(payload) == 0 {
		// Padding-only packets (bandwidth probes; Chromium sends them on
		// the media SSRC when RTX is not negotiated) have no descriptor.
		// They are forwarded: dropping one would leave a gap in the
		// sequence numbers that every subscriber counts as loss.
		*m = Meta{Padding: true, FrameEnd: hdr.Marker}
		return nil
	}
	var d VP8Descriptor
	if err := d.Unmarshal(payload); err != nil {
		return err
	}
	*m = Meta{
		SwitchPoint: d.Keyframe, Keyframe: d.Keyframe,
		FrameStart: d.S && d.PID == 0, FrameEnd: hdr.Marker,
		NonReference: d.N,
		HasPictureID: d.I, PictureID: d.PictureID,
		HasTL0PICIDX: d.L, TL0PICIDX: d.TL0PICIDX,
		HasTemporal: d.T, Temporal: d.TID, LayerSync: d.Y,
		Width: d.Width, Height: d.Height,
	}
	switch {
	case d.PictureID15:
		m.PictureIDBits = 15
	case d.I:
		m.PictureIDBits = 7
	}
	return nil
}

// Rewrite writes the picture ID (always in 15 bits, so a stream stitched
// from layers with 7-bit IDs never wraps at 128) and TL0PICIDX. The
// descriptor's layout follows from m: the mandatory byte, the extension
// byte, the picture ID, TL0PICIDX; everything after is copied as it is.
func (VP8) Rewrite(dst, payload []byte, m *Meta, pictureID uint16, tl0 uint8) ([]byte, error) {
	pictureID &= 0x7fff
	if (!m.HasPictureID || m.PictureIDBits == 15 && m.PictureID == pictureID) && (!m.HasTL0PICIDX || m.TL0PICIDX == tl0) {
		return payload, nil
	}
	// Only a descriptor with the X byte carries either field.
	in, out := 2, 2 // offsets of what follows the picture ID
	if m.HasPictureID {
		in, out = 3, 4
		if m.PictureIDBits == 15 {
			in = 4
		}
	}
	if len(payload) < in || m.HasTL0PICIDX && len(payload) < in+1 {
		return nil, ErrVP8Truncated
	}
	if len(dst) < out+len(payload)-in {
		return nil, ErrBufferTooSmall
	}
	dst[0], dst[1] = payload[0], payload[1]
	if m.HasPictureID {
		binary.BigEndian.PutUint16(dst[2:], 0x8000|pictureID)
	}
	n := out + copy(dst[out:], payload[in:])
	if m.HasTL0PICIDX {
		dst[out] = tl0
	}
	return dst[:n], nil
}

// Layered is true: VP8 simulcast switches at keyframes.
func (VP8) Layered() bool { return true }
