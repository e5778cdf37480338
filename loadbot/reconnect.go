package loadbot

import (
	"context"
	"math/rand/v2"
	"time"
)

// Reconnection. A bot whose session ends before the run does — its node
// died (the socket closed), drained (leave server_draining), or moved the
// room (a mid-session redirect) — joins again, as a browser app would:
// after a backoff, through the entry URL (or the redirect's URL), with new
// PeerConnections, until it is back or the run ends. What a user notices is
// the media gap: for a subscriber, from the last packet received before the
// loss to the first one after it; for a publisher, from the loss to sending
// again. Every reconnect and gap is in the report.

// Backoff between attempts: doubling from reconnectMinBackoff, at most
// reconnectMaxBackoff, ±20 % jitter so that a node's bots do not all knock
// at the same instant.
const (
	reconnectMinBackoff = 250 * time.Millisecond
	reconnectMaxBackoff = 2 * time.Second
)

// reconnectState is a bot's redirect and reconnect bookkeeping.
type reconnectState struct {
	// Owned by the bot's run goroutine.
	rejoining bool // a rejoin: do not wait for media to call it joined
	hops      int  // redirects followed by the join in progress

	// Written by the run goroutine under bot.mu, read by result.
	reconnects int
	failures   int // rejoin attempts that failed
	gaps       []time.Duration
	unrestored bool // the last gap was still open when the run ended

	// Guarded by bot.mu (the read goroutine touches them).
	gen       uint64 // the current socket's generation
	inSession bool   // the current socket got joined
	next      string // where the next join starts (a mid-session redirect)
	url       string // the URL of the current socket
	redirects int
	drops     []string
}

// backoff is the wait before rejoin attempt n (0-based).
func backoff(n int, jitter float64) time.Duration {
	d := reconnectMinBackoff << min(n, 8)
	d = min(d, reconnectMaxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*jitter))
}

// stay keeps a joined bot in its room until ctx ends, rejoining after every
// lost session when Config.Reconnect is on. It keeps env.up in step.
func (b *bot) stay(ctx context.Context) {
	b.env.up.Add(1)
	up := true
	defer func() {
		if up {
			b.env.up.Add(-1)
		}
	}()
	var gapFrom time.Time
	gapOpen := false
	closeGap := func(open bool) {
		if gapOpen {
			b.mu.Lock()
			b.rc.gaps = append(b.rc.gaps, time.Since(gapFrom))
			b.rc.unrestored = open
			b.mu.Unlock()
			gapOpen = false
		}
	}
	for {
		b.mu.Lock()
		gone := b.gone
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			closeGap(true)
			return
		case ev := <-b.events:
			if ev.kind == "media" {
				closeGap(false)
			}
			continue
		case <-gone:
		}
		b.env.up.Add(-1)
		up = false
		b.mu.Lock()
		b.rc.drops = append(b.rc.drops, b.dropped)
		b.mu.Unlock()
		if !b.env.cfg.Reconnect {
			return // free the sockets now rather than idle until the run ends
		}
		if !gapOpen {
			gapFrom, gapOpen = b.lastMedia(time.Now()), true
		}
		if !b.rejoin(ctx) {
			closeGap(true)
			return
		}
		b.env.up.Add(1)
		up = true
		b.mu.Lock()
		b.rc.reconnects++
		b.mu.Unlock()
		if b.spec.role == rolePublisher {
			closeGap(false) // join returned once it was sending again
		}
	}
}

// lastMedia is when a subscriber last received a packet (now for a
// publisher, or a subscriber that never received one).
func (b *bot) lastMedia(now time.Time) time.Time {
	sub := b.subscriber()
	if sub == nil {
		return now
	}
	var last time.Time
	for _, s := range sub.snapshots() {
		if s.LastPacketAt.After(last) {
			last = s.LastPacketAt
		}
	}
	if last.IsZero() {
		return now
	}
	return last
}

// rejoin tears the lost session down and joins again until it succeeds
// (true) or ctx ends (false). The report keeps the first join's timing.
func (b *bot) rejoin(ctx context.Context) bool {
	b.rc.rejoining = true
	defer func() { b.rc.rejoining = false }()
	b.mu.Lock()
	timing := b.timing
	redirected := b.rc.next != ""
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.timing = timing
		b.mu.Unlock()
	}()
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for attempt := 0; ; attempt++ {
		b.teardown()
		wait := backoff(attempt, rand.Float64())
		if attempt == 0 && redirected {
			wait = 0 // the server named the node to go to
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		err := b.join(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		b.mu.Lock()
		b.rc.failures++
		b.mu.Unlock()
		b.env.log.Debug("rejoin failed", "room", b.spec.room, "participant", b.spec.id, "attempt", attempt+1, "err", err)
	}
}

// teardown closes the lost session's socket and PeerConnections and readies
// the bot for a new one: a new publisher at the next join, the same
// subscriber (its finished tracks stay in the report) with a new
// PeerConnection.
func (b *bot) teardown() {
	b.mu.Lock()
	sig, pub, sub := b.sig, b.pub, b.sub
	b.mu.Unlock()
	if sig != nil {
		// Waits for the read goroutine, the one other user of b.sig.
		sig.close(false)
	}
	if pub != nil {
		pub.close()
	}
	if sub != nil {
		sub.reset()
	}
	// Nothing of the old session can report any more: start afresh.
	b.mu.Lock()
	b.sig, b.pub = nil, nil
	b.dropped = ""
	b.gone = make(chan struct{})
	b.mu.Unlock()
	for {
		select {
		case <-b.events:
		default:
			return
		}
	}
}

// reset closes the subscribe PeerConnection, finishes its tracks and lets
// the next server offer create a new one.
func (s *subscriber) reset() {
	s.mu.Lock()
	pc := s.pc
	s.pc = nil
	s.mu.Unlock()
	if pc != nil {
		_ = pc.Close()
	}
	s.wg.Wait()
	s.cands.reset()
	s.gotMedia.Store(false)
	now := time.Now()
	s.mu.Lock()
	tracks := append([]*trackRecv(nil), s.tracks...)
	s.mu.Unlock()
	for _, t := range tracks {
		t.mu.Lock()
		if !t.final {
			t.st.Finish(now)
			t.final = true
		}
		t.mu.Unlock()
	}
}

// reset forgets the PeerConnection and the candidates held for it.
func (c *candidates) reset() {
	c.mu.Lock()
	c.pc, c.pending = nil, nil
	c.mu.Unlock()
}

// reconnectResult is what the report needs of a bot's reconnects; it is
// read after run returned (under bot.mu, from result).
type reconnectResult struct {
	redirects  int
	reconnects int
	failures   int
	gaps       []time.Duration
	unrestored bool
	drops      []string
	url        string
}

// reconnectResult is called with b.mu held.
func (b *bot) reconnectResult() reconnectResult {
	return reconnectResult{
		redirects: b.rc.redirects, reconnects: b.rc.reconnects, failures: b.rc.failures,
		gaps: append([]time.Duration(nil), b.rc.gaps...), unrestored: b.rc.unrestored,
		drops: append([]string(nil), b.rc.drops...), url: b.rc.url,
	}
}
