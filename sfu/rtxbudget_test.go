package sfu

import (
	"testing"
	"time"
)

func TestRTXBudget(t *testing.T) {
	ms := int64(time.Millisecond)
	type step struct {
		media int    // media bytes sent before this NACK
		seq   uint16 // NACKed
		n     int    // its size
		at    int64  // ms
		want  rtxVerdict
	}
	tests := []struct {
		name  string
		share float64
		rtt   time.Duration
		steps []step
	}{
		{"nothing earned, nothing resent", 0.2, 0, []step{{0, 1, 1000, 0, rtxOverBudget}}},
		{"earned share of media pays one resend", 0.2, 0, []step{{5000, 1, 1000, 0, rtxSend}, {0, 2, 1000, 1, rtxOverBudget}}},
		{"a refused packet counts as tried", 0.2, 0, []step{
			{2500, 1, 1000, 0, rtxOverBudget}, {2500, 1, 1000, 50, rtxRepeat}, {0, 1, 1000, 100, rtxSend},
		}},
		{"repeat within the default interval refused", 0.2, 0, []step{
			{50000, 7, 1000, 0, rtxSend}, {0, 7, 1000, 99, rtxRepeat}, {0, 7, 1000, 100, rtxSend},
		}},
		{"repeat interval follows RTT", 0.2, 300 * time.Millisecond, []step{
			{50000, 7, 1000, 0, rtxSend}, {0, 7, 1000, 299, rtxRepeat}, {0, 7, 1000, 300, rtxSend},
		}},
		{"tiny RTT is floored", 0.2, time.Millisecond, []step{
			{50000, 7, 1000, 0, rtxSend}, {0, 7, 1000, 19, rtxRepeat}, {0, 7, 1000, 20, rtxSend},
		}},
		{"slot of another sequence number does not block", 0.2, 0, []step{
			{50000, 7, 1000, 0, rtxSend}, {0, 7 + rtxMarks, 1000, 1, rtxSend},
		}},
		{"savings capped at the burst", 1, 0, []step{
			{10 * rtxBurstBytes, 1, rtxBurstBytes, 0, rtxSend}, {0, 2, 1, 1, rtxOverBudget},
		}},
		{"share zero turns retransmission off", 0, 0, []step{{1 << 20, 1, 1, 0, rtxOverBudget}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newRTXBudget(tt.share)
			iv := resendInterval(tt.rtt)
			for i, s := range tt.steps {
				b.onMedia(s.media)
				got := b.check(s.seq, s.at*ms+1, iv)
				if got == rtxSend {
					got = b.spend(s.seq, s.n, s.at*ms+1)
				}
				if got != s.want {
					t.Fatalf("step %d: verdict %d, want %d", i, got, s.want)
				}
			}
		})
	}
}

// The NACK storm of issue 15 against the budget alone: 1000 NACKs a second
// for the same 68 packets, 10 s, on a 1 Mbps track. It may cost at most
// the share of the media plus the burst, whatever the NACK rate.
func TestRTXBudgetBoundsAStorm(t *testing.T) {
	b := newRTXBudget(0.2)
	var resent int
	iv := resendInterval(20 * time.Millisecond)
	for ms := int64(0); ms < 10_000; ms++ {
		now := ms * int64(time.Millisecond)
		if ms%10 == 0 {
			b.onMedia(1250) // 1 Mbps in 1250-byte packets
		}
		for seq := uint16(0); seq < 68; seq++ {
			if b.check(seq, now, iv) == rtxSend && b.spend(seq, 1250, now) == rtxSend {
				resent += 1250
			}
		}
	}
	media := 10 * 125_000
	if limit := media/5 + rtxBurstBytes; resent > limit {
		t.Fatalf("resent %d bytes for %d of media, want at most %d", resent, media, limit)
	}
	if resent < media/10 {
		t.Fatalf("resent only %d bytes: the budget should be usable", resent)
	}
}

func TestTokenBucket(t *testing.T) {
	b := newTokenBucket(10, 5) // 10/s, burst 5
	s := int64(time.Second)
	for i := 0; i < 5; i++ {
		if !b.take(1, 1) {
			t.Fatalf("burst token %d refused", i)
		}
	}
	if b.take(1, 1) {
		t.Fatal("took beyond the burst")
	}
	if !b.take(1, 1+s/10) || b.take(1, 1+s/10) {
		t.Fatal("one token per 100 ms at 10/s")
	}
	if !b.take(5, 1+10*s) || b.take(1, 1+10*s) {
		t.Fatal("a long idle refills to the burst, not beyond")
	}
	if b.take(1, 1) {
		t.Fatal("time going backwards must not refill")
	}
}
