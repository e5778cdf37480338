package loadbot

import (
	"context"
	"fmt"

	"github.com/surgertc/surge/loadbot/stats"
	"github.com/surgertc/surge/sfu/signal"
)

// A multi-node Surge answers a join for a room held by another node with
// {"type":"redirect","url":...} and closes the socket; the bot joins again
// at that URL with the same token, for at most Config.MaxRedirects hops per
// join. A redirect after joined means the room moved (two nodes held it
// after a Redis outage): the session ends and the bot reconnects to the
// URL it was given (reconnect.go).

// DropRedirect is the session-end reason of a mid-session redirect.
const DropRedirect = "redirect"

// nextURL is where a join starts: the URL a mid-session redirect named,
// once, else the entry URL.
func (b *bot) nextURL() string {
	b.rc.hops = 0
	b.mu.Lock()
	defer b.mu.Unlock()
	if u := b.rc.next; u != "" {
		b.rc.next = ""
		b.rc.redirects++
		return u
	}
	return b.env.cfg.URL
}

// startSignal runs sig's read loop with handlers that drop whatever the
// socket says after it stopped being the bot's current one (a redirect
// was followed, or a reconnect replaced it).
func (b *bot) startSignal(sig *signalClient) {
	b.mu.Lock()
	b.rc.gen++
	gen := b.rc.gen
	b.rc.inSession = false
	b.mu.Unlock()
	current := func(joined bool) bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		if gen != b.rc.gen {
			return false
		}
		if joined {
			b.rc.inSession = true
		}
		return true
	}
	sig.start(func(m signal.Message) {
		if current(m.Type == signal.TypeJoined) {
			b.onMessage(m)
		}
	}, func(err error) {
		if current(false) {
			b.onSignalEnd(err)
		}
	})
}

// onRedirect handles a redirect on the read goroutine.
func (b *bot) onRedirect(m signal.Message) {
	b.mu.Lock()
	b.rc.gen++ // the socket closes next: not a lost session
	joined := b.rc.inSession
	if joined {
		b.rc.next = m.URL
	}
	b.mu.Unlock()
	switch {
	case m.URL == "":
		b.emit(botEvent{kind: "fail", why: stats.FailRedirect, err: fmt.Errorf("redirect without a url")})
		b.endSession(DropServerGone)
	case joined:
		b.endSession(DropRedirect)
	default:
		b.emit(botEvent{kind: "redirect", why: m.URL})
	}
}

// followRedirect leaves the current socket and sends the join to url.
func (b *bot) followRedirect(ctx context.Context, url, token string) error {
	b.rc.hops++
	if max := b.env.cfg.MaxRedirects; b.rc.hops > max {
		return &joinError{reason: stats.FailRedirect, err: fmt.Errorf("%w: more than %d redirects", ErrRedirectLoop, max)}
	}
	b.mu.Lock()
	old := b.sig
	b.mu.Unlock()
	if old != nil {
		old.close(false)
	}
	sig, err := dialSignal(ctx, url, b.env.http)
	if err != nil {
		return &joinError{reason: stats.FailRedirect, err: err}
	}
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		sig.close(false)
		return &joinError{reason: stats.FailCanceled, err: ctx.Err()}
	}
	b.sig = sig
	b.rc.url = url
	b.rc.redirects++
	b.mu.Unlock()
	b.startSignal(sig)
	if err := sig.send(signal.Message{Type: signal.TypeJoin, Token: token}); err != nil {
		return &joinError{reason: stats.FailRedirect, err: err}
	}
	return nil
}
