package turn

import (
	"sync"
	"time"

	"github.com/surgertc/surge/metrics"
)

// pendingTTL is how long an admitted Allocate may wait for its success
// response before its quota slot is given back: a request pion refused (or
// that was lost) must not hold the slot.
const pendingTTL = 30 * time.Second

// ledger knows which allocations exist, whose they are and which relay
// port each holds. Pion's TURN server has no hooks for this; the taps on
// the listeners feed it what they see (an admitted Allocate, its success
// response with the relayed address) and the relay sockets report their
// close. It enforces the per-identity quota: live allocations plus admitted
// ones still waiting for their response.
//
// A client is keyed by its 5-tuple as the server sees it (listener and
// source address); a relay by its port, unique on the one relay IP.
type ledger struct {
	quota  int
	change func(t metrics.TURNTransport, delta int) // live count moved; may be nil

	mu       sync.Mutex
	pending  map[string]pendingAlloc // client → admitted Allocate
	byClient map[string]uint16       // client → relay port of its live allocation
	live     map[uint16]liveAlloc    // relay port → allocation
	open     map[uint16]bool         // relay sockets open (a live allocation needs one)
	held     map[string]int          // identity → live + pending
}

type pendingAlloc struct {
	identity string
	since    time.Time
}

type liveAlloc struct {
	identity  string
	client    string
	transport metrics.TURNTransport
}

func newLedger(quota int, change func(metrics.TURNTransport, int)) *ledger {
	return &ledger{
		quota: quota, change: change,
		pending: map[string]pendingAlloc{}, byClient: map[string]uint16{},
		live: map[uint16]liveAlloc{}, open: map[uint16]bool{}, held: map[string]int{},
	}
}

// admit decides an authenticated Allocate from client for identity: true
// lets it through to pion, false means the identity is at its quota. A
// retransmission, or an Allocate on a 5-tuple that already has an
// allocation (pion answers that one itself), is let through unchanged.
func (l *ledger) admit(client, identity string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire(now)
	if _, ok := l.byClient[client]; ok {
		return true
	}
	if p, ok := l.pending[client]; ok {
		if p.identity == identity {
			return true
		}
		l.dropPending(client, p)
	}
	if l.held[identity] >= l.quota {
		return false
	}
	l.pending[client] = pendingAlloc{identity: identity, since: now}
	l.held[identity]++
	return true
}

// confirm records the success response to client's Allocate: the
// allocation relays on port. It is ignored unless the relay socket is
// still open (it may have closed before the response went out).
func (l *ledger) confirm(client string, port uint16, t metrics.TURNTransport) {
	l.mu.Lock()
	p, ok := l.pending[client]
	if ok {
		delete(l.pending, client)
	}
	if _, dup := l.live[port]; dup || !l.open[port] {
		if ok {
			l.release(p.identity)
		}
		l.mu.Unlock()
		return
	}
	identity := ""
	if ok {
		identity = p.identity
	}
	l.live[port] = liveAlloc{identity: identity, client: client, transport: t}
	l.byClient[client] = port
	l.mu.Unlock()
	if l.change != nil {
		l.change(t, 1)
	}
}

// refused gives back the slot of an Allocate pion answered with an error.
func (l *ledger) refused(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.pending[client]; ok {
		l.dropPending(client, p)
	}
}

// opened and closed track relay sockets.
func (l *ledger) opened(port uint16) {
	l.mu.Lock()
	l.open[port] = true
	l.mu.Unlock()
}

func (l *ledger) closed(port uint16) {
	l.mu.Lock()
	delete(l.open, port)
	a, ok := l.live[port]
	if ok {
		delete(l.live, port)
		delete(l.byClient, a.client)
		if a.identity != "" {
			l.release(a.identity)
		}
	}
	l.mu.Unlock()
	if ok && l.change != nil {
		l.change(a.transport, -1)
	}
}

// isRelay reports whether port is an open relay socket's.
func (l *ledger) isRelay(port uint16) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[port]
}

// counts returns live allocations and open relay sockets.
func (l *ledger) counts() (live, open int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.live), len(l.open)
}

// holding is identity's live plus pending allocations.
func (l *ledger) holding(identity string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[identity]
}

func (l *ledger) expire(now time.Time) {
	for c, p := range l.pending {
		if now.Sub(p.since) > pendingTTL {
			l.dropPending(c, p)
		}
	}
}

func (l *ledger) dropPending(client string, p pendingAlloc) {
	delete(l.pending, client)
	l.release(p.identity)
}

func (l *ledger) release(identity string) {
	if n := l.held[identity] - 1; n > 0 {
		l.held[identity] = n
	} else {
		delete(l.held, identity)
	}
}
