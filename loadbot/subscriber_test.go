package loadbot

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/surgertc/surge/loadbot/report"
	"github.com/surgertc/surge/loadbot/stats"
	"github.com/surgertc/surge/metrics"
)

// runSession runs cfg's bots against an in-process SFU until d passes or
// done reports true (polled every 100 ms), and returns them stopped.
func runSession(t *testing.T, cfg Config, d time.Duration, hook func(*bot, stats.Kind, *rtp.Packet, time.Time), done func([]*bot) bool) []*bot {
	t.Helper()
	e, err := newEnv(cfg, quietLogger(), metrics.NewLoadbot(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	e.packetHook = hook
	sess := newSession(e)
	load := report.Load{Rooms: cfg.Rooms, Publishers: cfg.Publishers, Subscribers: cfg.Subscribers}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	sess.grow(ctx, load, sess.plan(load))
	for ctx.Err() == nil {
		if done != nil && done(sess.botsSnapshot()) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !sess.stop(cfg.Grace) {
		t.Fatal("bots did not stop")
	}
	return sess.botsSnapshot()
}

func subscribers(bots []*bot) (shaped, plain []*bot) {
	for _, b := range bots {
		if b.sub == nil {
			continue
		}
		if b.spec.link.Shaped() {
			shaped = append(shaped, b)
		} else {
			plain = append(plain, b)
		}
	}
	return shaped, plain
}

func received(b *bot) (pkts, plis uint64, freezes int) {
	for _, s := range b.sub.snapshots() {
		pkts += s.PacketsReceived
		plis += s.PLIsSent
		freezes += s.FreezeCount
	}
	return
}

// Media must reach subscribers decrypted by loadbot itself, on the socket
// read path (reactor or mediaConn), and their RTCP leave the same way, for
// every SRTP profile: if the keys were not recovered it would silently fall
// back to Pion's slow path. (That the SFU accepts the RTCP shows in the
// tests that rely on it: NACKs repair, PLIs end freezes, TWCC moves layers.)
func TestSubscribersDecryptOnTheirOwnSocket(t *testing.T) {
	s := startSFU(t)
	for _, profile := range []string{SRTPGCM, SRTPBrowser} {
		t.Run(profile, func(t *testing.T) {
			cfg := testConfig(s)
			cfg.SRTP = profile
			cfg.Link, cfg.ShapedShare = LinkConfig{DelayMs: 5}, 0.5
			bots := runSession(t, cfg, 4*time.Second, nil, nil)
			shaped, plain := subscribers(bots)
			if len(shaped) != 1 || len(plain) != 1 {
				t.Fatalf("%d shaped and %d plain subscribers", len(shaped), len(plain))
			}
			for _, b := range append(shaped, plain...) {
				pkts, _, _ := received(b)
				if pkts < 100 {
					t.Fatalf("%s received %d packets", b.spec.id, pkts)
				}
				if n := b.sub.viaPion.Load(); n != 0 {
					t.Fatalf("%s: %d of %d packets took Pion's path, not the socket's", b.spec.id, n, pkts)
				}
				b.sub.mu.Lock()
				keyed := b.sub.rtcpOut != nil
				b.sub.mu.Unlock()
				if !keyed {
					t.Fatalf("%s sends its RTCP through Pion, not its socket", b.spec.id)
				}
			}
		})
	}
}

// A loss that retransmission cannot repair (NACK off) leaves the decoder
// without a reference: the subscriber asks for a keyframe, as a browser
// does, and the wait counts as a freeze. A clean link needs neither.
func TestUnrepairedLossAsksForKeyframe(t *testing.T) {
	s := startSFU(t)
	cfg := testConfig(s)
	cfg.Audio = false
	cfg.Link, cfg.ShapedShare = LinkConfig{LossPct: 3, NoNACK: true}, 0.5
	shaped, plain := subscribers(runSession(t, cfg, 8*time.Second, nil, nil))
	_, splis, sfreezes := received(shaped[0])
	_, pplis, _ := received(plain[0])
	t.Logf("3%% loss without NACK: %d PLIs, %d freezes; clean link: %d PLIs", splis, sfreezes, pplis)
	if splis == 0 || sfreezes == 0 {
		t.Fatalf("unrepaired loss: %d PLIs and %d freezes, want some of each", splis, sfreezes)
	}
	if pplis != 0 {
		t.Fatalf("a clean link sent %d PLIs", pplis)
	}
}

// widths follows the VP8 layer each subscriber receives (the width tag
// every synthetic packet carries).
type widths struct {
	mu   sync.Mutex
	seen map[*bot][]int // distinct widths in the order they arrived
}

func (w *widths) hook(b *bot, kind stats.Kind, pkt *rtp.Packet, _ time.Time) {
	p := pkt.Payload
	if kind != stats.KindVideo || len(p) < vp8DescLen+layerTagOff+2 {
		return
	}
	wd := int(p[vp8DescLen+layerTagOff])<<8 | int(p[vp8DescLen+layerTagOff+1])
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = map[*bot][]int{}
	}
	if s := w.seen[b]; len(s) == 0 || s[len(s)-1] != wd {
		w.seen[b] = append(s, wd)
	}
}

func (w *widths) of(b *bot) []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.seen[b]...)
}

// A capped subscriber asks for q with `subscription` and gets it, then
// lifts the cap (max_layer f) and is back on f within 5 s (issue 10: a
// capped subscriber re-probes when the cap lifts, not after its estimate
// has decayed); the other subscriber stays on f.
func TestCappedSubscriberAsksForQThenLiftsTheCap(t *testing.T) {
	s := startSFU(t)
	cfg := testConfig(s)
	cfg.Audio = false
	cfg.Cap = CapConfig{Share: 0.5, Layer: "q", After: time.Second, For: 3 * time.Second}
	var w widths
	asked := func(b *bot) []string {
		sub := b.subscriber() // the bot may still be joining
		if sub == nil {
			return nil
		}
		sub.mu.Lock()
		defer sub.mu.Unlock()
		var out []string
		for _, l := range sub.capSent {
			out = append(out, l)
		}
		return out
	}
	var liftedAt time.Time
	lifted := func(bots []*bot) bool {
		for _, b := range bots {
			if b.spec.capped {
				if a := asked(b); len(a) == 1 && a[0] == "f" && liftedAt.IsZero() {
					liftedAt = time.Now()
				}
			}
		}
		return !liftedAt.IsZero() && time.Since(liftedAt) > 5*time.Second
	}
	bots := runSession(t, cfg, 25*time.Second, w.hook, lifted)
	var capped, other *bot
	for _, b := range bots {
		switch {
		case b.sub != nil && b.spec.capped:
			capped = b
		case b.sub != nil:
			other = b
		}
	}
	cw, ow := w.of(capped), w.of(other)
	t.Logf("capped subscriber's widths %v (5 s after the lift), the other's %v", cw, ow)
	if a := asked(capped); len(a) != 1 || a[0] != "f" {
		t.Fatalf("capped subscriber's last max_layer %v, want the cap lifted (f)", a)
	}
	got320 := false
	for _, x := range cw {
		got320 = got320 || x == 320
	}
	if !got320 {
		t.Fatalf("capped subscriber's widths %v never reached q (320)", cw)
	}
	if cw[len(cw)-1] != 1280 {
		t.Fatalf("capped subscriber's widths %v, want back on f (1280) within 5 s of lifting the cap", cw)
	}
	if len(ow) == 0 || ow[len(ow)-1] != 1280 {
		t.Fatalf("uncapped subscriber's widths %v, want to end on 1280", ow)
	}
}

// A publisher whose uplink carries 700 kbps stops sending f (it needs
// q + h + a third of f) and keeps it stopped. What the SFU then forwards
// is logged, not asserted (the SFU's business).
func TestPublisherDropsLayersItsUplinkCannotCarry(t *testing.T) {
	s := startSFU(t)
	cfg := testConfig(s)
	cfg.Audio, cfg.Subscribers = false, 1
	cfg.PublisherBWE = true
	cfg.PublisherLink = LinkConfig{UplinkKbps: 700}
	var w widths
	// Done 3 s after f stopped.
	var stoppedAt time.Time
	fStopped := func(bots []*bot) bool {
		for _, b := range bots {
			if p := b.publisher(); p != nil && stoppedAt.IsZero() {
				if r := p.layerRates(); len(r) == 3 && r[2] == 0 {
					stoppedAt = time.Now()
				}
			}
		}
		return !stoppedAt.IsZero() && time.Since(stoppedAt) > 3*time.Second
	}
	bots := runSession(t, cfg, 25*time.Second, w.hook, fStopped)
	var pub, sub *bot
	for _, b := range bots {
		if b.publisher() != nil {
			pub = b
		} else {
			sub = b
		}
	}
	rates := pub.publisher().layerRates()
	t.Logf("publisher's layer rates at the end: %v bps; subscriber's widths %v", rates, w.of(sub))
	if rates[2] != 0 || rates[0] == 0 {
		t.Fatalf("layer rates %v: want f stopped and q sent", rates)
	}

}
