package sfu

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/surgertc/surge/metrics"
)

func nackFCI(seq uint16) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint16(b, seq)
	return b
}

// flowingToOne is a fan-out to one subscriber that has been sent 20 packets.
func flowingToOne(t *testing.T) (*fanout, *DownTrack, *discardWriter) {
	f := newFanout(t, 1)
	for i := 0; i < 20; i++ {
		f.next()
		f.forward()
	}
	return f, f.downs[0], f.writers[0]
}

// TestUnrepairableLossAsksForKeyframe: when a subscriber NACKs a packet of
// the layer it decodes and the SFU cannot resend it (its retransmission
// budget is spent), the SFU asks the publisher for a keyframe at once,
// rather than leave the subscriber's decoder stuck until the browser's own
// keyframe timeout (3 s in libwebrtc); at most once per rescueInterval.
func TestUnrepairableLossAsksForKeyframe(t *testing.T) {
	f, d, w := flowingToOne(t)
	now := time.Now()
	// Answered while the budget lasts: no keyframe needed.
	d.rtx.tokens = rtxBurstBytes
	before := w.packets
	d.onNACK(nackFCI(f.seq-3), now)
	if w.packets != before+1 || !f.r.kf.last[0].IsZero() {
		t.Fatalf("NACK within budget: %d packets resent, keyframe asked at %v; want 1 and none", w.packets-before, f.r.kf.last[0])
	}
	budget := counterValue(f.m.Dropped(metrics.DropNACKBudget))
	d.rtx.tokens = 0
	d.onNACK(nackFCI(f.seq-2), now)
	if got := counterValue(f.m.Dropped(metrics.DropNACKBudget)) - budget; got != 1 {
		t.Fatalf("refused for budget: %v, want 1", got)
	}
	if !f.r.kf.last[0].Equal(now) {
		t.Fatalf("an unrepairable loss did not ask for a keyframe (last request %v)", f.r.kf.last[0])
	}
	// Within rescueInterval: one rescue is enough.
	f.r.kf.last[0] = time.Time{}
	d.onNACK(nackFCI(f.seq-1), now.Add(rescueInterval/2))
	if !f.r.kf.last[0].IsZero() {
		t.Fatal("a second rescue within rescueInterval")
	}
	d.onNACK(nackFCI(f.seq-1), now.Add(rescueInterval))
	if f.r.kf.last[0].IsZero() {
		t.Fatal("no rescue once rescueInterval passed")
	}
}

// TestStaleNACKIsNotResent: packets sent before the keyframe that resumed
// the subscriber's stream are not resent (its decoder restarts at that
// keyframe; on a short link their resends would crowd out the keyframe's),
// and refusing them asks for no keyframe.
func TestStaleNACKIsNotResent(t *testing.T) {
	f, d, w := flowingToOne(t)
	old := f.seq - 5
	now := time.Now()
	d.setTarget(-1, false, now)
	for i := 0; i < 8; i++ { // past the end of the frame in flight: paused
		f.next()
		f.forward()
	}
	d.setTarget(0, false, now)
	f.next()
	f.pid = (f.pid/10 + 1) * 10
	f.build(true)
	f.forward()
	f.build(false)
	if got := d.fwd.CurrentLayer(); got != 0 {
		t.Fatalf("not resumed on the keyframe: layer %d", got)
	}
	d.rtx.tokens = rtxBurstBytes
	stale := counterValue(f.m.Dropped(metrics.DropNACKStale))
	before := w.packets
	d.onNACK(nackFCI(old), now)
	if got := counterValue(f.m.Dropped(metrics.DropNACKStale)) - stale; got != 1 || w.packets != before {
		t.Fatalf("NACK from before the resume: %v counted stale, %d resent; want 1 and 0", got, w.packets-before)
	}
	if !f.r.kf.last[0].IsZero() {
		t.Fatal("a stale NACK asked for a keyframe")
	}
}
