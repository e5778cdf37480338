package sfu

import (
	"encoding/binary"
	"testing"
	"time"
)

func rtpWith(ssrc uint32) []byte {
	b := make([]byte, 40)
	b[0], b[1] = 0x80, 96
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return b
}

func rtcpFrom(sender uint32) []byte {
	b := make([]byte, 32)
	b[0], b[1] = 0x81, 201 // RR
	binary.BigEndian.PutUint32(b[4:], sender)
	return b
}

func guardCfg() PeerConfig {
	return PeerConfig{MaxSignalPerSecond: 50, MaxRTCPPerSecond: 10, MaxBytesPerSecond: 1 << 30, MaxUnknownSSRCs: 2, UnknownSSRCTimeout: time.Second}
}

func TestStreamGuard(t *testing.T) {
	s := int64(time.Second)
	type step struct {
		pkt  []byte
		at   int64
		do   func(g *streamGuard) // before the packet
		want guardVerdict
	}
	tests := []struct {
		name  string
		cfg   func(*PeerConfig)
		steps []step
	}{
		{"STUN and DTLS pass", nil, []step{
			{pkt: []byte{0, 1, 0, 0}, want: guardPass}, {pkt: make([]byte, 20), want: guardPass},
		}},
		{"declared SSRCs pass, unknown ones up to the cap", nil, []step{
			{do: func(g *streamGuard) { g.declare([]uint32{7}) }, pkt: rtpWith(7), want: guardPass},
			{pkt: rtpWith(1), want: guardPass}, {pkt: rtpWith(2), want: guardPass},
			{pkt: rtpWith(3), want: guardDropUnknownSSRC},
			{pkt: rtpWith(1), want: guardPass}, // still within its time
			{pkt: rtpWith(7), want: guardPass},
		}},
		{"confirmation frees the slot", nil, []step{
			{pkt: rtpWith(1), want: guardPass}, {pkt: rtpWith(2), want: guardPass},
			{do: func(g *streamGuard) { g.confirm(1) }, pkt: rtpWith(3), want: guardPass},
			{pkt: rtpWith(1), want: guardPass},
		}},
		{"unconfirmed SSRCs are rejected after the timeout and free their slot", nil, []step{
			{pkt: rtpWith(1), want: guardPass}, {pkt: rtpWith(2), want: guardPass},
			{pkt: rtpWith(1), at: 2 * s, want: guardDropUnknownSSRC},
			{pkt: rtpWith(3), at: 2 * s, want: guardPass}, // 2 expired too
			{pkt: rtpWith(1), at: 2 * s, want: guardDropUnknownSSRC},
		}},
		{"after 4×cap rejections no unknown SSRC is admitted", nil, func() []step {
			var st []step
			for i := uint32(0); i < 8; i++ {
				st = append(st, step{pkt: rtpWith(100 + i), at: int64(i/2) * 2 * s, want: guardPass})
			}
			st = append(st, step{pkt: rtpWith(999), at: 100 * s, want: guardDropUnknownSSRC})
			st = append(st, step{do: func(g *streamGuard) { g.declare([]uint32{5}) }, pkt: rtpWith(5), at: 100 * s, want: guardPass})
			return st
		}()},
		{"a late confirmation restores a rejected SSRC", nil, []step{
			{pkt: rtpWith(1), want: guardPass}, {pkt: rtpWith(1), at: 2 * s, want: guardDropUnknownSSRC},
			{do: func(g *streamGuard) { g.confirm(1) }, pkt: rtpWith(1), at: 2 * s, want: guardPass},
		}},
		{"RTCP over its rate is dropped, then refills", nil, func() []step {
			var st []step
			for i := 0; i < 10; i++ {
				st = append(st, step{pkt: rtcpFrom(1), want: guardPass})
			}
			return append(st, step{pkt: rtcpFrom(1), want: guardDropRTCP}, step{pkt: rtcpFrom(1), at: s / 5, want: guardPass})
		}()},
		{"RTCP sender SSRCs are capped", func(c *PeerConfig) { c.MaxRTCPPerSecond = 10000 }, func() []step {
			var st []step
			for i := uint32(0); i < maxRTCPSenders; i++ {
				st = append(st, step{pkt: rtcpFrom(1000 + i), want: guardPass})
			}
			return append(st, step{pkt: rtcpFrom(1), want: guardDropUnknownSSRC}, step{pkt: rtcpFrom(1000), want: guardPass})
		}()},
		{"bytes over the rate are dropped", func(c *PeerConfig) { c.MaxBytesPerSecond = 100 }, []step{
			{pkt: rtpWith(0), want: guardPass}, {pkt: rtpWith(0), want: guardPass},
			{pkt: rtpWith(0), want: guardDropBytes}, {pkt: rtpWith(0), at: s, want: guardPass},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := guardCfg()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			g := newStreamGuard(cfg)
			for i, st := range tt.steps {
				if st.do != nil {
					st.do(g)
				}
				if got := g.admit(st.pkt, st.at+1); got != st.want {
					t.Fatalf("step %d: verdict %d, want %d", i, got, st.want)
				}
			}
		})
	}
}

func TestStreamGuardReportsOncePerInterval(t *testing.T) {
	g := newStreamGuard(guardCfg())
	s := int64(time.Second)
	if _, ok := g.report(1, 10*time.Second); ok {
		t.Fatal("report with nothing dropped")
	}
	for i := uint32(1); i <= 100; i++ {
		g.admit(rtpWith(i), 1)
	}
	r, ok := g.report(1, 10*time.Second)
	if !ok || r.unknownSSRC != 98 {
		t.Fatalf("first report %+v %v, want 98 unknown-SSRC drops", r, ok)
	}
	g.admit(rtpWith(500), 2)
	if _, ok := g.report(5*s, 10*time.Second); ok {
		t.Fatal("second report within the interval")
	}
	if r, ok := g.report(11*s, 10*time.Second); !ok || r.unknownSSRC != 1 {
		t.Fatalf("report after the interval %+v %v, want the one drop since", r, ok)
	}
}

// BenchmarkStreamGuardAdmit is the guard's cost per media datagram: every
// packet a publisher sends passes it. Three SSRCs interleave, as simulcast does.
func BenchmarkStreamGuardAdmit(b *testing.B) {
	cfg := DefaultConfig().Peer
	cfg.MaxBytesPerSecond = 1 << 40
	g := newStreamGuard(cfg)
	g.declare([]uint32{11, 12, 13})
	pkts := [][]byte{rtpWith(11), rtpWith(12), rtpWith(13)}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if g.admit(pkts[i%3], int64(i)) != guardPass {
			b.Fatal("dropped")
		}
	}
}

func TestStreamGuardAdmitDoesNotAllocate(t *testing.T) {
	g := newStreamGuard(guardCfg())
	g.declare([]uint32{11, 12})
	pkts := [][]byte{rtpWith(11), rtpWith(12)}
	i := 0
	if n := testing.AllocsPerRun(1000, func() { g.admit(pkts[i%2], 1); i++ }); n != 0 {
		t.Fatalf("admit allocates %.1f times per packet", n)
	}
}
