package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// A publisher whose uplink is short stops encoding a layer but keeps sending
// padding on it (Chromium does). The layer must count as gone once its media
// stops, padding or not, or its subscribers stay on a frozen picture with
// the SFU believing the layer is still there (seen with real Chromium).
func TestLayerSendingOnlyPaddingCountsAsGone(t *testing.T) {
	f := newFanout(t, 0)
	t0 := time.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	// 600 ms of media, 20 ms apart: the layer is measured and live.
	var now time.Time
	for d := time.Duration(0); d <= 600*time.Millisecond; d += 20 * time.Millisecond {
		now = at(d)
		f.next()
		f.r.forward(0, f.ul, f.raw, &f.pkt, now)
		f.r.bitrates(now)
	}
	if rate := f.r.bitrates(at(700 * time.Millisecond))[0]; rate <= 1 {
		t.Fatalf("layer sending media measures %d bps, want its rate", rate)
	}

	// Then only padding, for longer than a layer may be silent.
	pad := padding(t, f.ul.ssrc, f.seq+1, f.ts)
	for d := 700 * time.Millisecond; d <= 2500*time.Millisecond; d += 20 * time.Millisecond {
		now = at(d)
		f.r.forward(0, f.ul, pad, &f.pkt, now)
		f.r.bitrates(now)
	}
	if rate := f.r.bitrates(at(2600 * time.Millisecond))[0]; rate != 0 {
		t.Fatalf("layer sending only padding for 1.9 s measures %d bps, want 0 (gone)", rate)
	}

	// Media again: live again.
	for d := 2600 * time.Millisecond; d <= 3400*time.Millisecond; d += 20 * time.Millisecond {
		now = at(d)
		f.next()
		f.r.forward(0, f.ul, f.raw, &f.pkt, now)
		f.r.bitrates(now)
	}
	if rate := f.r.bitrates(at(3500 * time.Millisecond))[0]; rate <= 1 {
		t.Fatalf("layer back to media measures %d bps, want its rate", rate)
	}
}

// padding is a padding-only RTP packet (no payload), as browsers send.
func padding(t *testing.T, ssrc uint32, seq uint16, ts uint32) []byte {
	t.Helper()
	p := rtp.Packet{
		Header:      rtp.Header{Version: 2, PayloadType: 96, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts, Padding: true},
		PaddingSize: 200,
	}
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
