package cluster

import (
	"context"
	"runtime"

	"github.com/surgertc/surge/metrics"
)

// tick is one heartbeat: sample the load, read the registry, write this
// node's entry and refresh (or re-take) the claim of every room it serves,
// then settle any room another node claims too. It is also the probe that
// notices Redis coming back: while Redis is away it fails once per
// interval, quietly.
func (n *Node) tick(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, 2*opTimeout)
	defer cancel()
	st := n.host.Stats()
	load := n.sampleLoad(st)

	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	now := n.now()
	info := n.info
	info.Load, info.UpdatedAt, info.State = load, now, StateServing
	claims := map[string]Claim{}
	if n.draining {
		info.State = StateDraining
	} else {
		for _, r := range st.Rooms {
			h, ok := n.held[r.Name]
			if !ok {
				// Open here without a claim: a join raced the room's
				// release. Claim it now, or learn who else has it.
				h = &heldRoom{claim: Claim{Node: n.info.ID, Since: now.UnixMilli()}}
				n.held[r.Name] = h
			}
			h.seen = now
		}
		for room, h := range n.held {
			if now.Sub(h.seen) > n.cfg.Node.TTL {
				delete(n.held, room) // placed here, but no join ever came
				continue
			}
			claims[room] = h.claim
		}
		n.m.Held().Set(float64(len(n.held)))
	}
	draining := n.draining
	n.mu.Unlock()

	members, err := n.store.members(ctx, false)
	var conflicts map[string]string
	if err == nil {
		conflicts, err = n.store.heartbeat(ctx, info, claims, n.cfg.Node.TTL)
	}
	if err != nil {
		if parent.Err() == nil { // not merely closing
			n.failed(metrics.RedisOpHeartbeat, err)
		}
		return
	}
	n.recovered(len(claims))
	live := len(members)
	if _, ok := find(candidatesOf(members), n.info.ID); !ok {
		live++ // registered by this very heartbeat
	}
	n.m.Nodes().Set(float64(live))
	for room, other := range conflicts {
		n.settle(ctx, room, claims[room], other, members, draining)
	}
}

func candidatesOf(ms []member) []Candidate {
	out := make([]Candidate, len(ms))
	for i, m := range ms {
		out[i] = m.Candidate
	}
	return out
}

// settle resolves a room that another node claims while this one holds it.
func (n *Node) settle(ctx context.Context, room string, mine Claim, otherRaw string, members []member, draining bool) {
	theirs, err := ParseClaim(otherRaw)
	owner, live := find(candidatesOf(members), theirs.Node)
	out := Keep
	if err == nil {
		out = Resolve(Conflict{Mine: mine, Theirs: theirs, Owner: owner.Info, OwnerLive: live, Draining: draining})
	}
	if out == Keep {
		ok, err := n.store.cas(ctx, room, otherRaw, mine, n.cfg.Node.TTL)
		if err != nil || !ok {
			return // the next heartbeat looks again
		}
		n.m.Claims(metrics.ClaimConflictWon).Inc()
		n.log.Info("room claimed by two nodes: kept here", "room", room, "other", theirs.Node)
		return
	}
	n.mu.Lock()
	if h, ok := n.held[room]; ok && h.claim == mine {
		delete(n.held, room)
		n.m.Held().Set(float64(len(n.held)))
	}
	n.mu.Unlock()
	n.m.Claims(metrics.ClaimLost).Inc()
	n.log.Info("room claimed by two nodes: moving its clients to the other", "room", room, "to", theirs.Node, "url", owner.Info.SignalURL)
	n.host.Evict(room, owner.Info.SignalURL)
}

// sampleLoad turns the host's counters and the process CPU into a Load.
func (n *Node) sampleLoad(st HostStats) Load {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	l := Load{GOMAXPROCS: runtime.GOMAXPROCS(0), Rooms: len(st.Rooms)}
	for _, r := range st.Rooms {
		l.Participants += r.Participants
	}
	// CPU over less than half an interval (the first heartbeat, right at
	// start, or Drain's extra one) is mostly noise: keep the last figure.
	l.CPUCores = n.load.CPUCores
	if n.cpu != nil && now.Sub(n.cpuAt) >= n.cfg.Node.HeartbeatInterval/2 {
		l.CPUCores, n.cpuAt = n.cpu.Sample(now), now
	}
	if !n.lastAt.IsZero() {
		if dt := now.Sub(n.lastAt).Seconds(); dt > 0 && st.PacketsSent >= n.lastPackets {
			l.PacketsPerSec = (st.PacketsSent - n.lastPackets) / dt
		}
	}
	n.lastPackets, n.lastAt = st.PacketsSent, now
	n.load = l
	return l
}
