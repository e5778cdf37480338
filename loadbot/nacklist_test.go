package loadbot

import (
	"slices"
	"testing"
	"time"

	"github.com/surgertc/surge/loadbot/stats"
)

var tBase = time.Unix(1_700_000_000, 0)

func ms(v int) time.Time { return tBase.Add(time.Duration(v) * time.Millisecond) }

func TestNACKListRequestsRetriesAndGivesUp(t *testing.T) {
	type step struct {
		at      int     // ms
		missing [2]int  // [from, to) found missing at this time
		arrived []int64 // arrivals at this time
		nack    []uint16
		lost    []int64
	}
	for _, tc := range []struct {
		name  string
		cfg   func(*nackConfig)
		steps []step
	}{
		{"asked at once, again every interval, given up after the last try", nil, []step{
			{at: 0, missing: [2]int{10, 12}, nack: []uint16{10, 11}},
			{at: 20},
			{at: 100, nack: []uint16{10, 11}},
			{at: 200, nack: []uint16{10, 11}},
			{at: 300, nack: []uint16{10, 11}},
			{at: 400, nack: []uint16{10, 11}},
			{at: 480},
			{at: 500, lost: []int64{10, 11}},
			{at: 600},
		}},
		{"a repaired packet is no longer asked for", nil, []step{
			{at: 0, missing: [2]int{10, 13}, nack: []uint16{10, 11, 12}},
			{at: 40, arrived: []int64{11}},
			{at: 100, nack: []uint16{10, 12}},
			{at: 110, arrived: []int64{10, 12}},
			{at: 1000},
		}},
		{"a measured round trip spaces the retries", nil, []step{
			{at: 0, missing: [2]int{1, 2}, nack: []uint16{1}},
			{at: 200, arrived: []int64{1}}, // answered after 200 ms: rtt 200 ms
			{at: 200, missing: [2]int{5, 6}, nack: []uint16{5}},
			{at: 400}, // 1.5 × rtt = 300 ms
			{at: 500, nack: []uint16{5}},
		}},
		{"no NACK: one interval for reordering, then lost", func(c *nackConfig) { c.Off = true }, []step{
			{at: 0, missing: [2]int{7, 9}},
			{at: 60, arrived: []int64{8}},
			{at: 100, lost: []int64{7}},
		}},
		{"the oldest go when the list overflows", func(c *nackConfig) { c.MaxMissing = 2 }, []step{
			{at: 0, missing: [2]int{1, 3}, nack: []uint16{1, 2}},
			{at: 10, missing: [2]int{3, 4}, nack: []uint16{3}, lost: []int64{1}},
		}},
		{"wrapping sequence numbers", nil, []step{
			{at: 0, missing: [2]int{65535, 65537}, nack: []uint16{65535, 0}},
		}},
		{"never wanted longer than MaxAge", func(c *nackConfig) { c.MaxRequests = 100; c.MaxAge = 250 * time.Millisecond }, []step{
			{at: 0, missing: [2]int{4, 5}, nack: []uint16{4}},
			{at: 100, nack: []uint16{4}},
			{at: 200, nack: []uint16{4}},
			{at: 260, lost: []int64{4}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultNACKConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			l := nackList{cfg: cfg}
			for i, st := range tc.steps {
				now := ms(st.at)
				for _, x := range st.arrived {
					l.arrived(x, now)
				}
				if st.missing != [2]int{} {
					l.missing(int64(st.missing[0]), int64(st.missing[1]), now)
				}
				nack, lost := l.tick(now, nil, nil)
				if !slices.Equal(nack, st.nack) || !slices.Equal(lost, st.lost) {
					t.Fatalf("step %d (%d ms): nack %v lost %v, want %v and %v", i, st.at, nack, lost, st.nack, st.lost)
				}
			}
		})
	}
}

func TestKeyframeRequestsAreThrottled(t *testing.T) {
	k := keyframeRequests{interval: pliInterval}
	var sent []int
	for at := 0; at <= 1000; at += 20 {
		need := at < 300 || at >= 600
		if k.due(need, ms(at)) {
			sent = append(sent, at)
		}
	}
	if want := []int{0, 200, 600, 800, 1000}; !slices.Equal(sent, want) {
		t.Fatalf("PLIs at %v ms, want %v", sent, want)
	}
}

func TestReceptionReportBlock(t *testing.T) {
	prev := stats.Reception{HighestSeq: 1000, Expected: 1000, Received: 990}
	cur := stats.Reception{HighestSeq: 1100, Expected: 1100, Received: 1065, Jitter: 270}
	sr := senderReport{ntpMiddle: 0xAABBCCDD, at: ms(0)}
	rr := receptionReport(42, cur, prev, sr, ms(500))
	// 100 expected, 75 received in the interval: 25/100 × 256 = 64.
	if rr.SSRC != 42 || rr.FractionLost != 64 || rr.TotalLost != 35 || rr.LastSequenceNumber != 1100 || rr.Jitter != 270 {
		t.Fatalf("block %+v", rr)
	}
	if rr.LastSenderReport != 0xAABBCCDD || rr.Delay != 65536/2 {
		t.Fatalf("LSR %x DLSR %d, want aabbccdd and 32768 (0.5 s)", rr.LastSenderReport, rr.Delay)
	}
	// Duplicates can make an interval receive more than it expected.
	if rr := receptionReport(1, stats.Reception{Expected: 10, Received: 12}, stats.Reception{}, senderReport{}, ms(0)); rr.FractionLost != 0 || rr.TotalLost != 0 || rr.Delay != 0 {
		t.Fatalf("block %+v", rr)
	}
}
