package bwe

import (
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// feedbackFixture records n sent packets in a history and builds real TWCC
// feedback for them with Pion's recorder: some lost, some with arrival gaps
// large enough for two-byte deltas, across a sequence-number wrap.
func feedbackFixture(t testing.TB, n int) (*History, time.Time, [][]byte) {
	epoch := time.Unix(1_700_000_000, 0)
	h := NewHistory(epoch)
	for h.next.Load()%65536 != 65000 { // start near the 16-bit wrap
		h.Next()
	}
	rec := twcc.NewRecorder(1)
	rng := rand.New(rand.NewSource(3))
	now := epoch
	arrival := int64(0)
	var raw [][]byte
	for i := 0; i < n; i++ {
		seq := h.Next()
		now = now.Add(time.Duration(rng.Intn(3000)) * time.Microsecond)
		h.Sent(seq, 100+rng.Intn(1100), i%7/6, now)
		arrival += int64(rng.Intn(3000))
		if rng.Intn(50) == 0 {
			arrival += 80_000 // a two-byte delta
		}
		if rng.Intn(10) != 0 {
			rec.Record(1, uint16(seq), arrival)
		}
		if i%40 == 39 {
			for _, p := range rec.BuildFeedbackPacket() {
				b, err := p.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				raw = append(raw, b)
			}
		}
	}
	return h, now, raw
}

// TestResultsRawMatchesResults: the allocation-free parser reads exactly
// what pion/rtcp's unmarshal reads.
func TestResultsRawMatchesResults(t *testing.T) {
	h, now, raw := feedbackFixture(t, historySize-48)
	a, b := NewFeedback(h), NewFeedback(h)
	var ra, rb []PacketResult
	total, lost := 0, 0
	for _, p := range raw {
		pkts, err := rtcp.Unmarshal(p)
		if err != nil {
			t.Fatal(err)
		}
		ra = a.Results(pkts[0].(*rtcp.TransportLayerCC), now, ra[:0])
		rb = b.ResultsRaw(p, now, rb[:0])
		if !slices.Equal(ra, rb) {
			t.Fatalf("parsers disagree:\n%v\n%v", ra, rb)
		}
		total += len(ra)
		for _, r := range ra {
			if !r.Received {
				lost++
			}
		}
	}
	if total < historySize*9/10 || lost < 100 {
		t.Fatalf("fixture too thin: %d results, %d lost", total, lost)
	}
	// Send times come back as recorded.
	for _, r := range rb {
		size, _, sent, ok := h.lookup(r.Seq, now.Sub(h.epoch))
		if !ok || size != r.Size || sent != r.SendTime {
			t.Fatalf("result %+v does not match the history", r)
		}
	}
}

func TestResultsRawDoesNotAllocate(t *testing.T) {
	h, now, raw := feedbackFixture(t, 400)
	out := make([]PacketResult, 0, 512)
	if n := testing.AllocsPerRun(50, func() {
		f := Feedback{h: h}
		for _, p := range raw {
			out = f.ResultsRaw(p, now, out[:0])
		}
	}); n != 0 {
		t.Fatalf("ResultsRaw allocates %.1f times per run", n)
	}
}

// TestResultsRawSurvivesGarbage: truncated and random feedback never
// panics or reads past the packet.
func TestResultsRawSurvivesGarbage(t *testing.T) {
	h, now, raw := feedbackFixture(t, 400)
	rng := rand.New(rand.NewSource(9))
	f := NewFeedback(h)
	var out []PacketResult
	for i := 0; i < 20000; i++ {
		p := append([]byte(nil), raw[rng.Intn(len(raw))]...)
		p = p[:rng.Intn(len(p)+1)]
		for k := 0; k < 3 && len(p) > 0; k++ {
			p[rng.Intn(len(p))] = byte(rng.Intn(256))
		}
		out = f.ResultsRaw(p, now, out[:0])
	}
}

// FuzzResultsRaw feeds mutated real feedback (what a hostile subscriber
// can send) to the allocation-free parser: it must never panic, never
// report more packets than the feedback's status count, and, wherever
// pion/rtcp accepts the packet as TWCC feedback, read what Results reads.
func FuzzResultsRaw(f *testing.F) {
	_, _, raw := feedbackFixture(f, 400)
	for _, p := range raw {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		h, now, _ := feedbackFixture(t, 400)
		got := NewFeedback(h).ResultsRaw(p, now, nil)
		if len(p) >= 16 {
			if count := int(p[14])<<8 | int(p[15]); len(got) > count {
				t.Fatalf("%d results from feedback with status count %d", len(got), count)
			}
		}
		pkts, err := rtcp.Unmarshal(p)
		if err != nil || len(pkts) != 1 {
			return
		}
		fb, ok := pkts[0].(*rtcp.TransportLayerCC)
		if !ok || int(fb.Header.Length+1)*4 != len(p) {
			return
		}
		want := NewFeedback(h).Results(fb, now, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("parsers disagree on %x:\nraw   %v\nrtcp  %v", p, got, want)
		}
	})
}
