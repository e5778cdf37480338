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

	// feed forwards a packet every 20 ms over [from, to] (the next media
	// packet of the stream when raw is nil), measuring as the controllers do.
	feed := func(from, to time.Duration, raw []byte) {
		for d := from; d <= to; d += 20 * time.Millisecond {
			pkt := raw
			if pkt == nil {
				f.next()
				pkt = f.raw
			}
			f.r.forward(0, f.ul, pkt, &f.pkt, at(d))
			f.r.bitrates(at(d))
		}
	}

	// 600 ms of media: the layer is measured and live.
	feed(0, 600*time.Millisecond, nil)
	if rate := f.r.bitrates(at(700 * time.Millisecond))[0]; rate <= 1 {
		t.Fatalf("layer sending media measures %d bps, want its rate", rate)
	}

	// Then only padding, for longer than a layer may be silent.
	feed(700*time.Millisecond, 2500*time.Millisecond, padding(t, f.ul.ssrc, f.seq+1, f.ts))
	if rate := f.r.bitrates(at(2600 * time.Millisecond))[0]; rate != 0 {
		t.Fatalf("layer sending only padding for 1.9 s measures %d bps, want 0 (gone)", rate)
	}

	// Media again: live again.
	feed(2600*time.Millisecond, 3400*time.Millisecond, nil)
	if rate := f.r.bitrates(at(3500 * time.Millisecond))[0]; rate <= 1 {
		t.Fatalf("layer back to media measures %d bps, want its rate", rate)
	}
}

// TestLowestLayerLiveFromItsFirstPackets: subscribers of a publisher that
// just started get its lowest layer from its first packets (in time for
// the publisher's first keyframes), while a higher layer counts only once
// its rate is measured, so that a weak link is not given a layer that
// merely looks cheap because it just began.
func TestLowestLayerLiveFromItsFirstPackets(t *testing.T) {
	f := newFanout(t, 0)
	up := &upLayer{ssrc: 0xabce, cache: newPacketCache(f.r.cfg.PacketCacheSize)}
	f.r.layers[1] = up
	t0 := time.Now()
	for d := time.Duration(0); d <= 100*time.Millisecond; d += 20 * time.Millisecond {
		f.next()
		f.r.forward(0, f.ul, f.raw, &f.pkt, t0.Add(d))
		f.r.forward(1, up, f.raw, &f.pkt, t0.Add(d))
	}
	rates := f.r.bitrates(t0.Add(100 * time.Millisecond))
	if rates[0] <= 0 {
		t.Errorf("lowest layer after 100 ms of media measures %d bps: not live", rates[0])
	}
	if rates[1] != 0 {
		t.Errorf("a higher layer counts as live (%d bps) before its rate is measured", rates[1])
	}
	for d := 200 * time.Millisecond; d <= 700*time.Millisecond; d += 20 * time.Millisecond {
		f.next()
		f.r.forward(0, f.ul, f.raw, &f.pkt, t0.Add(d))
		f.r.forward(1, up, f.raw, &f.pkt, t0.Add(d))
		f.r.bitrates(t0.Add(d))
	}
	if rates := f.r.bitrates(t0.Add(800 * time.Millisecond)); rates[1] <= 1 {
		t.Errorf("the higher layer, measured for 600 ms, is still not live (%d bps)", rates[1])
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
