package loadbot

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/surgertc/surge/loadbot/report"
	"github.com/surgertc/surge/loadbot/stats"
)

// session is the set of bots of one run or ramp. Bots join at the run's
// join rate and live until stop; a ramp adds to the same session step by
// step.
type session struct {
	env *env

	botCtx     context.Context
	cancelBots context.CancelFunc
	wg         sync.WaitGroup

	mu      sync.Mutex
	bots    []*bot
	handles []botHandle // one per bot, same order
	rooms   []string    // in creation order
	load    report.Load
	next    time.Time      // earliest start of the next join (pacing)
	used    map[string]int // identities started so far, for rejoins
}

// botHandle lets the session end one bot: a ramp's bisection shrinks the
// load as well as growing it.
type botHandle struct {
	room   int
	cancel context.CancelFunc
	done   chan struct{}
	active bool // part of the current load
}

// planned is a bot to start and the index of its room.
type planned struct {
	spec botSpec
	room int
}

func newSession(e *env) *session {
	ctx, cancel := context.WithCancel(context.Background())
	return &session{env: e, botCtx: ctx, cancelBots: cancel, used: map[string]int{}}
}

// roomName is shared by every loadbot process of a test, so several
// processes can fill one room; identities carry the instance id instead.
func roomName(prefix string, i int) string { return fmt.Sprintf("%s-%d", prefix, i) }

// plan returns the bots that take the session from its current bots to
// target: every slot (room, role, index) of target, owned by this process,
// that has no bot joined or joining. A slot whose bot failed to join is
// free again, so each ramp step measures its whole load, not the leftovers
// of an earlier bad step.
func (s *session) plan(target report.Load) []planned {
	cfg := s.env.cfg
	type slot struct {
		room  int
		role  role
		index int
	}
	have := map[slot]bool{}
	s.mu.Lock()
	for i := range s.handles {
		h := &s.handles[i]
		if !h.active {
			continue
		}
		b := s.bots[i]
		b.mu.Lock()
		failed := b.failure != ""
		b.mu.Unlock()
		if failed {
			h.active = false
			continue
		}
		have[slot{h.room, b.spec.role, b.spec.index}] = true
	}
	s.mu.Unlock()
	var specs []planned
	capped := int(math.Round(cfg.Cap.Share * float64(target.Subscribers)))
	add := func(room int, r role, to int, shapedUpTo int) {
		name := roomName(cfg.RoomPrefix, room)
		for i := 0; i < to; i++ {
			if have[slot{room, r, i}] || !cfg.Share.Owns(room, r, i) {
				continue // running already, or another process's bot
			}
			kind := "pub"
			if r == roleSubscriber {
				kind = "sub"
			}
			sp := botSpec{id: fmt.Sprintf("%s-%s-%s%d", cfg.InstanceID, name, kind, i), room: name, role: r, index: i}
			if r == roleSubscriber && i < shapedUpTo {
				sp.link = cfg.Link
				sp.noNACK = cfg.Link.NoNACK
			}
			// Caps go to the last subscribers, so that they overlap the
			// shaped ones only when both shares together exceed 1.
			sp.capped = r == roleSubscriber && i >= to-capped
			if r == rolePublisher {
				sp.link = cfg.PublisherLink
			}
			specs = append(specs, planned{spec: sp, room: room})
		}
	}
	shaped := func(subs int) int { return int(math.Round(cfg.ShapedShare * float64(subs))) }
	// Publishers first, everywhere: subscribers joining a room with its
	// tracks already published measure a join, not a wait for a publisher.
	for room := 0; room < target.Rooms; room++ {
		add(room, rolePublisher, target.Publishers, 0)
	}
	for room := 0; room < target.Rooms; room++ {
		add(room, roleSubscriber, target.Subscribers, shaped(target.Subscribers))
	}
	return specs
}

// grow starts the bots of specs, paced at the join rate; it returns when
// every bot has been started (not joined), or ctx ends. target becomes the
// session's load.
func (s *session) grow(ctx context.Context, target report.Load, specs []planned) {
	gap := time.Duration(float64(time.Second) / s.env.cfg.JoinRate)
	s.mu.Lock()
	s.load = target
	for i := 0; i < target.Rooms; i++ {
		if i >= len(s.rooms) {
			s.rooms = append(s.rooms, roomName(s.env.cfg.RoomPrefix, i))
		}
	}
	s.mu.Unlock()
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for _, sp := range specs {
		s.mu.Lock()
		wait := time.Until(s.next)
		s.mu.Unlock()
		if wait > 0 {
			t.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		spec := sp.spec
		if n := s.used[spec.id]; n > 0 {
			// A slot filled again after a bisection emptied it: a new
			// identity, so the report never shows one bot twice.
			spec.id = fmt.Sprintf("%s-r%d", spec.id, n)
		}
		s.used[sp.spec.id]++
		b := newBot(spec, s.env)
		ctx, cancel := context.WithCancel(s.botCtx)
		h := botHandle{room: sp.room, cancel: cancel, done: make(chan struct{}), active: true}
		s.bots = append(s.bots, b)
		s.handles = append(s.handles, h)
		s.next = time.Now().Add(gap)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer close(h.done)
			defer cancel()
			b.run(ctx)
		}()
	}
}

// shrink ends the bots outside target — rooms past target.Rooms, and the
// publishers and subscribers past its per-room counts — and waits up to
// wait for them to leave. target becomes the session's load.
func (s *session) shrink(target report.Load, wait time.Duration) {
	var done []chan struct{}
	s.mu.Lock()
	for i := range s.handles {
		h := &s.handles[i]
		if !h.active {
			continue
		}
		sp := s.bots[i].spec
		keep := h.room < target.Rooms &&
			((sp.role == rolePublisher && sp.index < target.Publishers) || (sp.role == roleSubscriber && sp.index < target.Subscribers))
		if !keep {
			h.active = false
			h.cancel()
			done = append(done, h.done)
		}
	}
	s.load = target
	s.mu.Unlock()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for _, d := range done {
		select {
		case <-d:
		case <-deadline.C:
			return
		}
	}
}

// resize takes the session to target, shrinking or growing as needed.
func (s *session) resize(ctx context.Context, target report.Load, wait time.Duration) {
	s.shrink(report.Load{
		Rooms:       min(target.Rooms, s.target().Rooms),
		Publishers:  min(target.Publishers, s.target().Publishers),
		Subscribers: min(target.Subscribers, s.target().Subscribers),
	}, wait)
	s.grow(ctx, target, s.plan(target))
}

// activeBots counts the bots of the current load that joined and that
// failed: a ramp step's own join verdict.
func (s *session) activeBots() (connected, failed int) {
	s.mu.Lock()
	var bots []*bot
	for i, h := range s.handles {
		if h.active {
			bots = append(bots, s.bots[i])
		}
	}
	s.mu.Unlock()
	for _, b := range bots {
		r := b.result()
		switch {
		case r.joined:
			connected++
		case r.failure != "" && r.failure != stats.FailCanceled:
			failed++
		}
	}
	return connected, failed
}

// settled reports whether every bot started has joined or failed.
func (s *session) settled() bool {
	for _, b := range s.botsSnapshot() {
		b.mu.Lock()
		done := b.joinedOK || b.failure != ""
		b.mu.Unlock()
		if !done {
			return false
		}
	}
	return true
}

// ownedBots is how many bots of load this process runs: all of them, or
// its share in a coordinated run.
func (s *session) ownedBots(load report.Load) int { return s.env.cfg.Share.Bots(load) }

// target is the load the session is growing to.
func (s *session) target() report.Load {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load
}

// botsSnapshot returns the bots started so far.
func (s *session) botsSnapshot() []*bot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*bot(nil), s.bots...)
}

// aggregate sums every subscriber track so far: cumulative, for timeline
// intervals (Aggregate.Sub) and ramp steps.
func (s *session) aggregate() stats.Aggregate {
	var a stats.Aggregate
	for _, b := range s.botsSnapshot() {
		if sub := b.subscriber(); sub != nil {
			sub.aggregate(&a)
		}
	}
	return a
}

// aggregateByRoom is aggregate split by room, for the first maxRooms
// rooms (the per-room timelines); the whole is summed over every room.
func (s *session) aggregateByRoom(maxRooms int) (all stats.Aggregate, rooms map[string]*stats.Aggregate) {
	rooms = map[string]*stats.Aggregate{}
	s.mu.Lock()
	names := s.rooms
	if len(names) > maxRooms {
		names = names[:maxRooms]
	}
	for _, n := range names {
		rooms[n] = &stats.Aggregate{}
	}
	s.mu.Unlock()
	for _, b := range s.botsSnapshot() {
		sub := b.subscriber()
		if sub == nil {
			continue
		}
		if ra := rooms[b.spec.room]; ra != nil {
			sub.aggregate(ra)
		} else {
			sub.aggregate(&all)
		}
	}
	// Rooms fold into the whole once each, not once per bot: an
	// aggregate carries a 20 KiB histogram.
	for _, ra := range rooms {
		all.Merge(ra)
	}
	return all, rooms
}

// stop ends every bot and waits up to wait for them. It reports whether
// all ended in time; stragglers are left to finish on their own rather than
// hold the report hostage.
func (s *session) stop(wait time.Duration) bool {
	s.cancelBots()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(wait):
		return false
	}
}

// inputs groups the bots' results by room for report.Build.
func (s *session) inputs() (rooms []report.RoomInput, dropped map[string]int) {
	s.mu.Lock()
	names := append([]string(nil), s.rooms...)
	s.mu.Unlock()
	byRoom := map[string]int{}
	for i, n := range names {
		byRoom[n] = i
		rooms = append(rooms, report.RoomInput{Name: n})
	}
	dropped = map[string]int{}
	for _, b := range s.botsSnapshot() {
		r := b.result()
		i, ok := byRoom[r.spec.room]
		if !ok {
			byRoom[r.spec.room] = len(rooms)
			i = len(rooms)
			rooms = append(rooms, report.RoomInput{Name: r.spec.room})
		}
		for _, d := range r.reconnect.drops {
			dropped[d]++
		}
		rooms[i].Bots = append(rooms[i].Bots, report.BotInput{
			ID:          r.spec.id,
			Publisher:   r.spec.role == rolePublisher,
			Shaped:      r.spec.link.Shaped(),
			JoinFailure: r.failure,
			Join:        r.timing,
			Path:        r.path,
			Tracks:      r.tracks,
			Reconnect: report.ReconnectInput{
				Redirects: r.reconnect.redirects, Reconnects: r.reconnect.reconnects,
				Failures: r.reconnect.failures, MediaGaps: r.reconnect.gaps,
				MediaLost: r.reconnect.unrestored, SignalURL: r.reconnect.url,
			},
		})
	}
	if s.env.cfg.Share.Of > 1 {
		// A share leaves rooms of the scenario to other processes: no
		// empty rows for them.
		kept := rooms[:0]
		for _, r := range rooms {
			if len(r.Bots) > 0 {
				kept = append(kept, r)
			}
		}
		rooms = kept
	}
	for i := range rooms {
		rooms[i].Clock = s.env.roomClock(rooms[i].Name).report()
	}
	return rooms, dropped
}
