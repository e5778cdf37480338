package loadbot

import (
	"encoding/binary"
	"time"

	"github.com/pion/rtp"

	"github.com/surgertc/surge/simulcast"
)

// Synthetic media: no encoder, only bytes shaped like what a browser sends,
// so the SFU's parsers (VP8 descriptor, keyframe detection, resolution) and
// bandwidth accounting see realistic traffic.

const (
	// maxRTPPayload keeps every packet under a 1200-byte payload, the size
	// browsers use so that SRTP + headers fit any path MTU.
	maxRTPPayload = 1200
	vp8DescLen    = 4  // X, I with a 15-bit PictureID
	layerTagOff   = 10 // in a packet's VP8 payload: the sending layer's width
	vp8ClockRate  = 90000
	opusClockRate = 48000
	opusFrame     = 20 * time.Millisecond
	// opusBytes is a 20 ms Opus frame at ~32 kbps speech.
	opusBytes = 80
	// keyframeFactor: a keyframe costs a few interframes in a real encoder.
	keyframeFactor = 4
)

// Header-extension URIs a bot negotiates. abs-capture-time carries the
// send time end to end; Pion has no constant for it.
const (
	absCaptureTimeURI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"
)

// ntpEpochOffset is the number of seconds from 1900 (NTP) to 1970 (Unix).
const ntpEpochOffset = 2208988800

// toNTP converts t to a 32.32 fixed-point NTP timestamp.
func toNTP(t time.Time) uint64 {
	ns := t.UnixNano()
	sec := uint64(ns/1e9) + ntpEpochOffset
	frac := (uint64(ns%1e9) << 32) / 1e9
	return sec<<32 | frac
}

// fromNTP converts a 32.32 NTP timestamp to Unix nanoseconds.
func fromNTP(v uint64) int64 {
	sec := int64(v>>32) - ntpEpochOffset
	frac := int64((v & 0xFFFFFFFF) * 1e9 >> 32)
	return sec*1e9 + frac
}

// extIDs are the header-extension IDs negotiated for one sender (0: absent).
type extIDs struct {
	mid, rid, absCapture uint8
}

// stamp sets the per-packet extensions on h: mid and rid so the SFU can
// match simulcast SSRCs that the SDP does not list, and the send time.
// buf must be 8 bytes that live until the packet is written.
func (e extIDs) stamp(h *rtp.Header, mid, rid []byte, buf []byte, now time.Time) {
	if e.mid != 0 && len(mid) > 0 {
		_ = h.SetExtension(e.mid, mid)
	}
	if e.rid != 0 && len(rid) > 0 {
		_ = h.SetExtension(e.rid, rid)
	}
	if e.absCapture != 0 {
		binary.BigEndian.PutUint64(buf, toNTP(now))
		_ = h.SetExtension(e.absCapture, buf[:8])
	}
}

// vp8Stream produces the packets of one simulcast layer. It is owned by the
// publisher's send goroutine for that layer.
type vp8Stream struct {
	layer      Layer
	frameBytes int // average interframe size for the layer's bitrate
	rate       int // bps to send at, set by the send loop (0: the layer's bitrate)
	seq        uint16
	ts         uint32
	tsStep     uint32
	pictureID  uint16
	pkt        rtp.Packet
	buf        [maxRTPPayload]byte
	absBuf     [8]byte
}

func newVP8Stream(l Layer, seed uint32) *vp8Stream {
	// Budget per frame from the layer's bitrate, after the descriptor and
	// ~40 bytes of RTP/SRTP/UDP overhead per packet, so the wire rate
	// matches the configured rate.
	per := l.BitrateKbps * 1000 / 8 / l.FPS
	pkts := (per + maxRTPPayload - 1) / maxRTPPayload
	fb := per - pkts*(vp8DescLen+40)
	if fb < 16 {
		fb = 16
	}
	return &vp8Stream{
		layer:      l,
		frameBytes: fb,
		seq:        uint16(seed),
		ts:         seed * 7,
		tsStep:     uint32(vp8ClockRate / l.FPS),
		pictureID:  uint16(seed) & 0x7FFF,
	}
}

// frameSize is the byte size of the next frame: the layer's bitrate, or
// the rate the publisher's bandwidth estimate allows (an encoder told to
// spend less makes smaller frames).
func (s *vp8Stream) frameSize(key bool) int {
	n := s.frameBytes
	if s.rate > 0 && s.rate < s.layer.BitrateKbps*1000 {
		n = max(n*s.rate/(s.layer.BitrateKbps*1000), 16)
	}
	if key {
		return n * keyframeFactor
	}
	return n
}

// writeFrame packetizes one frame and hands each packet to write, which
// must not keep it. Every packet carries mid, rid and its send time.
func (s *vp8Stream) writeFrame(key bool, ids extIDs, mid, rid []byte, write func(*rtp.Packet) error) error {
	size := s.frameSize(key)
	s.ts += s.tsStep
	s.pictureID = (s.pictureID + 1) & 0x7FFF
	first := true
	for size > 0 {
		n := maxRTPPayload - vp8DescLen
		if n > size {
			n = size
		}
		size -= n
		p := s.buf[:vp8DescLen+n]
		// Payload descriptor: X=1, S on a frame's first packet, PID 0;
		// then I=1 and a 15-bit PictureID with M=1.
		p[0] = 0x80
		if first {
			p[0] |= 0x10
		}
		p[1] = 0x80
		p[2] = 0x80 | byte(s.pictureID>>8)
		p[3] = byte(s.pictureID)
		body := p[vp8DescLen:]
		clear(body)
		if first {
			writeVP8Header(body, key, s.layer.Width, s.layer.Height, s.frameSize(key))
		}
		// Every packet names its layer (by width) after the frame header,
		// so tests can check that each layer switch starts on a keyframe.
		if len(body) >= layerTagOff+2 {
			body[layerTagOff], body[layerTagOff+1] = byte(s.layer.Width>>8), byte(s.layer.Width)
		}
		s.seq++
		s.pkt.Header = rtp.Header{
			Version:        2,
			Marker:         size == 0,
			SequenceNumber: s.seq,
			Timestamp:      s.ts,
			Extensions:     s.pkt.Header.Extensions[:0],
		}
		s.pkt.Payload = p
		ids.stamp(&s.pkt.Header, mid, rid, s.absBuf[:], time.Now())
		if err := write(&s.pkt); err != nil {
			return err
		}
		first = false
	}
	return nil
}

// writeVP8Header writes the start of a VP8 frame (RFC 6386 §9.1): the
// 3-byte frame tag and, on keyframes, the start code and the dimensions the
// receiver reads to know which layer it got. b has room for 10 bytes.
func writeVP8Header(b []byte, key bool, w, h, size int) {
	if len(b) < 10 {
		return
	}
	first := size / 2              // first partition size; any plausible value
	tag := uint32(first)<<5 | 1<<4 // show_frame=1, version 0
	if !key {
		tag |= 1 // P=1: interframe
	}
	b[0], b[1], b[2] = byte(tag), byte(tag>>8), byte(tag>>16)
	if key {
		b[3], b[4], b[5] = 0x9d, 0x01, 0x2a
		binary.LittleEndian.PutUint16(b[6:], uint16(w)&0x3FFF)
		binary.LittleEndian.PutUint16(b[8:], uint16(h)&0x3FFF)
	}
}

// vp8Info is what a receiver learns from one VP8 RTP payload.
type vp8Info struct {
	frameStart    bool // S=1 and partition 0
	keyframe      bool // frameStart and the frame tag's P bit is 0
	width, height int  // keyframes only
	pictureID     int  // -1 if absent
}

// parseVP8 reads a VP8 payload descriptor and, on a frame's first packet,
// the frame header. It never allocates.
func parseVP8(p []byte) (vp8Info, bool) {
	// The SFU's own descriptor parser (bounds-checked and fuzzed in
	// package simulcast), reduced to what a subscriber records.
	d, err := simulcast.ParseVP8(p)
	if err != nil || len(p) <= d.Size {
		return vp8Info{pictureID: -1}, false
	}
	info := vp8Info{frameStart: d.S && d.PID == 0, keyframe: d.Keyframe, width: int(d.Width), height: int(d.Height), pictureID: -1}
	if d.I {
		info.pictureID = int(d.PictureID)
	}
	return info, true
}

// opusStream produces Opus-sized audio packets every 20 ms.
type opusStream struct {
	seq    uint16
	ts     uint32
	pkt    rtp.Packet
	buf    [opusBytes]byte
	absBuf [8]byte
}

func newOpusStream(seed uint32) *opusStream {
	return &opusStream{seq: uint16(seed >> 3), ts: seed * 13}
}

func (s *opusStream) writePacket(ids extIDs, mid []byte, write func(*rtp.Packet) error) error {
	s.seq++
	s.ts += opusClockRate * uint32(opusFrame/time.Millisecond) / 1000
	s.buf[0] = 0x78 // TOC: CELT FB 20 ms, mono: a plausible Opus frame
	s.pkt.Header = rtp.Header{
		Version:        2,
		Marker:         false,
		SequenceNumber: s.seq,
		Timestamp:      s.ts,
		Extensions:     s.pkt.Header.Extensions[:0],
	}
	s.pkt.Payload = s.buf[:]
	ids.stamp(&s.pkt.Header, mid, nil, s.absBuf[:], time.Now())
	return write(&s.pkt)
}

// layerForWidth maps a keyframe's width to the layer of cfg that sends it;
// "" if none matches.
func layerForWidth(layers []Layer, w int) string {
	for _, l := range layers {
		if l.Width == w {
			return l.RID
		}
	}
	return ""
}
