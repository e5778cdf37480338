package bwe

import (
	"testing"
	"time"
)

// TestProbeMeasuredPastTheBurst: a shaper whose token bucket lets a burst's
// first packets through at once (HTB's one-packet burst, as on the weak-link
// test's lo) must not make a cluster read as keeping up with its target;
// on a link that does keep up, the cluster still reads so.
func TestProbeMeasuredPastTheBurst(t *testing.T) {
	const size = 300 // bytes per padding packet as the history records it
	tests := []struct {
		name        string
		burst       int           // packets through at once
		gap         time.Duration // then one every gap
		wantLimited bool
		wantKbps    int64 // when limited, within 10 %
	}{
		{"400 kbit/s behind a 5-packet burst", 5, 6 * time.Millisecond, true, 400},
		{"250 kbit/s behind a 5-packet burst", 5, 9600 * time.Microsecond, true, 250},
		{"400 kbit/s, no burst", 1, 6 * time.Millisecond, true, 400},
		{"fast link", minClusterPackets, 0, false, 0},
		{"fast link, spaced by feedback ticks", 1, 250 * time.Microsecond, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p probeTracker
			const target = 580_000
			p.start(1, target, minClusterPackets, 0)
			at := 10 * time.Millisecond
			for i := 0; i < minClusterPackets; i++ {
				switch {
				case i >= tt.burst:
					at += tt.gap
				case i > 0:
					// A burst at line rate still spans a feedback
					// tick or two.
					at += 100 * time.Microsecond
				}
				p.add(&PacketResult{Seq: uint64(i + 1), Size: size, Probe: 1, Arrival: at, Received: true})
			}
			res := p.results(time.Second, nil)
			if len(res) != 1 {
				t.Fatalf("results %v", res)
			}
			r := res[0]
			if r.Limited != tt.wantLimited {
				t.Fatalf("%+v: limited %v, want %v", r, r.Limited, tt.wantLimited)
			}
			if !tt.wantLimited {
				if r.Rate != target {
					t.Fatalf("%+v: a link that kept up reads its target", r)
				}
				return
			}
			if kbps := r.Rate / 1000; kbps < tt.wantKbps*9/10 || kbps > tt.wantKbps*11/10 {
				t.Fatalf("%+v: read %d kbps, want about %d", r, kbps, tt.wantKbps)
			}
		})
	}
}
