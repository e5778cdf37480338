package simulcast

import (
	"encoding/binary"
	"time"

	"github.com/pion/rtp"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// vp8Packet builds a VP8 RTP payload: descriptor with picture ID (15 or 7
// bits), TL0PICIDX and TID, then for a frame start a payload header (with a
// keyframe header when key), padded to size bytes.
func vp8Packet(dst []byte, start, key, wide bool, pid uint16, tl0 uint8, size int) []byte {
	b := dst[:0]
	first := byte(0x80)
	if start {
		first |= 0x10
	}
	b = append(b, first, 0xe0) // I, L, T
	if wide {
		b = binary.BigEndian.AppendUint16(b, 0x8000|pid&0x7fff)
	} else {
		b = append(b, byte(pid&0x7f))
	}
	b = append(b, tl0, 0x00)
	if start {
		if key {
			b = append(b, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a)
			b = binary.LittleEndian.AppendUint16(b, 640)
			b = binary.LittleEndian.AppendUint16(b, 360)
		} else {
			b = append(b, 0x11, 0x02, 0x00)
		}
	}
	for len(b) < size {
		b = append(b, byte(len(b)))
	}
	return b
}

// accept parses a packet as the Receiver does, once, and hands it to f; an
// unparseable payload is dropped as invalid.
func accept(f *Forwarder, layer int, hdr *rtp.Header, payload []byte, now time.Time, dst []byte) (Output, Verdict) {
	var m Meta
	if f.codec.Parse(hdr, payload, &m) != nil {
		return Output{}, DropInvalid
	}
	return f.Accept(layer, hdr, payload, &m, now, dst)
}

// rewriteRetransmission parses the cached packet and rewrites it for outSeq.
func rewriteRetransmission(f *Forwarder, outSeq uint16, hdr *rtp.Header, payload []byte, dst []byte) (Output, bool) {
	var m Meta
	if f.codec.Parse(hdr, payload, &m) != nil {
		return Output{}, false
	}
	return f.RewriteRetransmission(outSeq, hdr, payload, &m, dst)
}
