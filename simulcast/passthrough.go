package simulcast

import "github.com/pion/rtp"

// Passthrough is the Codec of payloads the SFU does not look into: audio,
// and video codecs without descriptor rewriting. Every packet is a switch
// point and goes out unchanged.
type Passthrough struct{}

// Parse describes any payload: it only marks the frame end and padding.
func (Passthrough) Parse(hdr *rtp.Header, payload []byte, m *Meta) error {
	*m = Meta{SwitchPoint: true, FrameEnd: hdr.Marker, Padding: len(payload) == 0}
	return nil
}

// Rewrite returns payload: there is no numbering in it to continue.
func (Passthrough) Rewrite(_, payload []byte, _ *Meta, _ uint16, _ uint8) ([]byte, error) {
	return payload, nil
}

// Layered is false: without switch points a track has one layer.
func (Passthrough) Layered() bool { return false }
