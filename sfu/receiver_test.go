package sfu

import (
	"testing"

	"github.com/surgertc/surge/metrics"
)

// TestMalformedPayloadIsDroppedOnce: a packet whose VP8 descriptor is cut
// short is dropped by the Receiver's one parse, counted once however many
// subscribers the track has, kept out of the NACK cache, and the stream goes
// on with the next packet.
func TestMalformedPayloadIsDroppedOnce(t *testing.T) {
	f := newFanout(t, 10)
	before := counterValue(f.m.Dropped(metrics.DropMalformed))
	f.next()
	good := f.raw
	f.raw = append(good[:f.hdr:f.hdr], 0x80) // X set, extension byte missing
	f.forward()
	if got := counterValue(f.m.Dropped(metrics.DropMalformed)) - before; got != 1 {
		t.Errorf("malformed drops counted %v times for one packet, want 1", got)
	}
	var buf [maxPacketSize]byte
	if n := f.r.loadPacket(0, f.seq, buf[:], &f.ul.meta, 0); n != 0 {
		t.Error("the malformed packet was cached: a NACK would resend it")
	}
	f.checkForwarded(t, 1)
	f.raw = good
	f.next()
	f.forward()
	f.checkForwarded(t, 2)
}
