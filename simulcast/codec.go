package simulcast

import (
	"strings"

	"github.com/pion/rtp"
)

// Meta is what the packet path needs to know about one upstream packet,
// whatever its codec. The Receiver parses each packet once, on arrival,
// into a Meta; every Forwarder of the track decides and rewrites from it
// and never looks into the payload's descriptor again. A Meta belongs to
// the packet it describes and is only read after Parse.
type Meta struct {
	// SwitchPoint is where a subscriber may start receiving a layer (or
	// move to it): a keyframe start for VP8, every packet for a codec
	// passed through.
	SwitchPoint bool
	// Keyframe is set on the first packet of a keyframe.
	Keyframe bool
	// FrameStart and FrameEnd mark a frame's first and last packet
	// (FrameEnd is the RTP marker).
	FrameStart, FrameEnd bool
	// Padding is a packet without payload (a bandwidth probe); it has no
	// descriptor, and it is forwarded as it is.
	Padding bool
	// NonReference frames are not used to predict others: dropping one
	// costs its subscriber only that frame.
	NonReference bool

	// The picture ID, when the packet carries one, in PictureIDBits bits
	// (7 or 15).
	HasPictureID  bool
	PictureIDBits uint8
	PictureID     uint16
	// TL0PICIDX, the index of the newest base-temporal-layer picture.
	HasTL0PICIDX bool
	TL0PICIDX    uint8
	// Temporal is the temporal layer (TID); LayerSync says the frame
	// depends only on the base layer (Y bit).
	HasTemporal bool
	Temporal    uint8
	LayerSync   bool

	// Width and Height come from a keyframe's header, 0 when unknown.
	Width, Height uint16
}

// Codec parses and rewrites the payloads of one RTP codec. It is the one
// place that knows a codec's payload format: supporting a codec is one
// file with one implementation. Implementations are stateless and safe for
// concurrent use; Parse and Rewrite do not allocate.
type Codec interface {
	// Parse fills m from one packet. It reads hdr and payload only, never
	// past payload's end, and returns an error for a payload it cannot
	// describe (the packet must be dropped); m is then not to be used.
	Parse(hdr *rtp.Header, payload []byte, m *Meta) error
	// Rewrite returns payload (described by m) carrying pictureID and
	// tl0, the numbering the subscriber's stream continues with: payload
	// itself when it already says that, else a rewritten copy in dst.
	// Fields the input does not carry stay absent.
	Rewrite(dst, payload []byte, m *Meta, pictureID uint16, tl0 uint8) ([]byte, error)
	// Layered reports whether the payloads say enough to switch a
	// subscriber between simulcast layers (switch points, picture IDs).
	// A codec that does not is forwarded as one layer from its first
	// packet, with no keyframe requests and no padding probes.
	Layered() bool
}

// CodecFor returns the Codec for an RTP codec's MIME type ("video/VP8");
// codecs without one here are passed through.
func CodecFor(mimeType string) Codec {
	if strings.EqualFold(mimeType, "video/VP8") {
		return VP8{}
	}
	return Passthrough{}
}
