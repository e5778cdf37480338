package sfu

import (
	"testing"

	"github.com/pion/rtcp"
)

// decodeTWCC parses feedback with pion/rtcp (as a Pion publisher would)
// and returns the arrival time it reports for each sequence number it
// covers (-1: reported lost) and its feedback count.
func decodeTWCC(t *testing.T, raw []byte) (map[uint16]int64, uint8) {
	t.Helper()
	pkts, err := rtcp.Unmarshal(raw)
	if err != nil {
		t.Fatalf("feedback does not parse: %v (% x)", err, raw)
	}
	if len(pkts) != 1 {
		t.Fatalf("%d packets in one feedback", len(pkts))
	}
	fb, ok := pkts[0].(*rtcp.TransportLayerCC)
	if !ok {
		t.Fatalf("feedback parses as %T", pkts[0])
	}
	var symbols []uint16
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for range c.RunLength {
				symbols = append(symbols, c.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			symbols = append(symbols, c.SymbolList...)
		}
	}
	if len(symbols) < int(fb.PacketStatusCount) {
		t.Fatalf("%d symbols for %d statuses", len(symbols), fb.PacketStatusCount)
	}
	out := map[uint16]int64{}
	at := int64(fb.ReferenceTime) * 64000
	d := 0
	for i := range int(fb.PacketStatusCount) {
		seq := fb.BaseSequenceNumber + uint16(i)
		if symbols[i] == rtcp.TypeTCCPacketNotReceived {
			out[seq] = -1
			continue
		}
		if d >= len(fb.RecvDeltas) {
			t.Fatalf("status %d received, but only %d deltas", i, len(fb.RecvDeltas))
		}
		at += fb.RecvDeltas[d].Delta
		d++
		out[seq] = at
	}
	if d != len(fb.RecvDeltas) {
		t.Fatalf("%d deltas for %d received statuses", len(fb.RecvDeltas), d)
	}
	return out, fb.FbPktCount
}

type twccArrival struct {
	seq uint16
	at  int64 // µs
}

func TestTWCCFeedbackReportsWhatArrived(t *testing.T) {
	inOrder := func(base uint16, n int, gapUS int64) []twccArrival {
		var a []twccArrival
		for i := range n {
			a = append(a, twccArrival{base + uint16(i), 5_000_000 + int64(i)*gapUS})
		}
		return a
	}
	drop := func(a []twccArrival, seqs ...uint16) []twccArrival {
		var out []twccArrival
	next:
		for _, x := range a {
			for _, s := range seqs {
				if x.seq == s {
					continue next
				}
			}
			out = append(out, x)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   []twccArrival
		// feedback packets expected at the first build (more than one when
		// a packet cannot carry them all)
		packets int
	}{
		{"in order", inOrder(100, 30, 3300), 1},
		{"losses", drop(inOrder(100, 30, 3300), 101, 110, 111, 112, 129), 1},
		{"across the wrap", inOrder(65530, 20, 1000), 1},
		{"arrival out of order", []twccArrival{{10, 1_000_000}, {12, 1_000_500}, {11, 1_003_000}, {13, 1_001_000}}, 1},
		{"large and negative deltas", []twccArrival{{1, 2_000_000}, {2, 2_070_000}, {3, 2_060_000}, {4, 2_400_000}}, 1},
		{"delta past int16 ticks", []twccArrival{{1, 2_000_000}, {2, 2_001_000}, {3, 12_000_000}, {4, 12_001_000}}, 2},
		{"more than one packet carries", inOrder(1000, 2500, 100), 3},
		{"a long loss", drop(inOrder(7, 600, 500), func() []uint16 {
			var s []uint16
			for i := uint16(50); i < 550; i++ {
				s = append(s, 7+i)
			}
			return s
		}()...), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r twccRecorder
			r.senderSSRC = 1
			want := map[uint16]int64{}
			for _, a := range tc.in {
				r.record(42, a.seq, a.at)
				want[a.seq] = a.at
			}
			got := map[uint16]int64{}
			var counts []uint8
			var buf []byte
			for {
				var more bool
				buf, more = r.build(buf[:0])
				if len(buf) == 0 {
					break
				}
				if len(buf)%4 != 0 || len(buf) > 1200 {
					t.Fatalf("feedback of %d bytes", len(buf))
				}
				m, c := decodeTWCC(t, buf)
				counts = append(counts, c)
				for s, at := range m {
					if _, dup := got[s]; dup {
						t.Fatalf("seq %d reported twice", s)
					}
					got[s] = at
				}
				if !more {
					break
				}
			}
			if len(counts) != tc.packets {
				t.Errorf("%d feedback packets, want %d", len(counts), tc.packets)
			}
			for i, c := range counts {
				if c != uint8(i) {
					t.Errorf("feedback %d has count %d", i, c)
				}
			}
			for s, at := range want {
				g, ok := got[s]
				if !ok || g < 0 {
					t.Fatalf("seq %d arrived at %d µs, reported %v (present %v)", s, at, g, ok)
				}
				if d := g - at; d < -125 || d > 125 {
					t.Errorf("seq %d arrived at %d µs, reported %d", s, at, g)
				}
			}
			for s, g := range got {
				if _, ok := want[s]; !ok && g >= 0 {
					t.Errorf("seq %d never arrived but is reported at %d", s, g)
				}
			}
			if b, _ := r.build(nil); len(b) != 0 {
				t.Errorf("a second build reports again: % x", b)
			}
		})
	}
}

// A packet that arrives after the feedback that called it lost is reported
// again; one from far behind reopens nothing.
func TestTWCCFeedbackReportsLateArrivals(t *testing.T) {
	var r twccRecorder
	for _, s := range []uint16{10, 11, 13} {
		r.record(42, s, int64(s)*1000)
	}
	first, _ := r.build(nil)
	if m, _ := decodeTWCC(t, first); m[12] != -1 {
		t.Fatalf("seq 12 before it came: %d, want reported lost", m[12])
	}
	r.record(42, 12, 14_000)
	r.record(42, 14, 15_000)
	second, _ := r.build(nil)
	m, _ := decodeTWCC(t, second)
	if d := m[12] - 14_000; m[12] < 0 || d < -125 || d > 125 {
		t.Fatalf("late seq 12 reported %d, want about 14000", m[12])
	}
	if _, ok := m[11]; ok {
		t.Errorf("seq 11, reported before, reported again")
	}
	for s := uint16(15); s < 15+twccMaxReport+10; s++ {
		r.record(42, s, int64(s)*1000)
	}
	_, _ = r.build(nil)
	r.record(42, 16, 1_000_000)
	if b, _ := r.build(nil); len(b) != 0 {
		m, _ := decodeTWCC(t, b)
		t.Errorf("a duplicate from %d packets back reopened the report: %v", twccMaxReport, m)
	}
}

func TestTWCCRecorderAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own account")
	}
	var r twccRecorder
	buf := make([]byte, 0, 1500)
	seq := uint16(0)
	at := int64(0)
	allocs := testing.AllocsPerRun(200, func() {
		for range 30 {
			if seq%17 != 0 {
				r.record(42, seq, at)
			}
			seq++
			at += 3000
		}
		buf, _ = r.build(buf[:0])
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per 30 packets and a feedback, want 0", allocs)
	}
}
