package turn

import (
	"testing"
	"time"

	"github.com/surgertc/surge/metrics"
)

func TestLedgerQuota(t *testing.T) {
	live := 0
	l := newLedger(2, func(_ metrics.TURNTransport, d int) { live += d })
	now := time.Unix(1000, 0)
	if !l.admit("c1", "alice", now) || !l.admit("c2", "alice", now) {
		t.Fatal("first two allocations refused")
	}
	if l.admit("c3", "alice", now) {
		t.Fatal("third allocation admitted with quota 2")
	}
	if !l.admit("c1", "alice", now) {
		t.Fatal("a retransmitted Allocate was refused")
	}
	if !l.admit("b1", "bob", now) {
		t.Fatal("another identity is refused because of alice")
	}
	l.opened(50000)
	l.confirm("c1", 50000, metrics.TURNUDP)
	if live != 1 {
		t.Fatalf("live gauge %d after a confirmed allocation", live)
	}
	if !l.admit("c1", "alice", now) {
		t.Fatal("an Allocate on a 5-tuple that has an allocation must reach pion (it answers 437)")
	}
	l.refused("c2") // pion refused c2's request: its slot comes back
	if !l.admit("c3", "alice", now) {
		t.Fatal("slot of a refused Allocate not given back")
	}
	l.closed(50000)
	if live != 0 || l.holding("alice") != 1 {
		t.Fatalf("after closing c1's relay: live %d, alice holds %d (want 0, 1)", live, l.holding("alice"))
	}
	if !l.admit("c4", "alice", now) {
		t.Fatal("slot of a closed allocation not given back")
	}
}

func TestLedgerPendingExpires(t *testing.T) {
	l := newLedger(1, nil)
	now := time.Unix(1000, 0)
	if !l.admit("c1", "alice", now) {
		t.Fatal("refused")
	}
	if l.admit("c2", "alice", now.Add(pendingTTL)) {
		t.Fatal("admitted while the first request may still be answered")
	}
	if !l.admit("c2", "alice", now.Add(pendingTTL+time.Second)) {
		t.Fatal("an unanswered request held its slot forever")
	}
}

func TestLedgerIgnoresResponsesForClosedRelays(t *testing.T) {
	live := 0
	l := newLedger(1, func(_ metrics.TURNTransport, d int) { live += d })
	now := time.Unix(1000, 0)
	l.admit("c1", "alice", now)
	l.opened(50000)
	l.closed(50000) // the allocation died before its response went out
	l.confirm("c1", 50000, metrics.TURNTCP)
	if live != 0 || l.holding("alice") != 0 {
		t.Fatalf("live %d, alice holds %d: a dead relay was recorded", live, l.holding("alice"))
	}
	if l.isRelay(50000) {
		t.Fatal("closed relay still reported open")
	}
}
