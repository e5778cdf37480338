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

	mu    sync.Mutex
	bots  []*bot
	rooms []string // in creation order
	load  report.Load
	next  time.Time // earliest start of the next join (pacing)
}

func newSession(e *env) *session {
	ctx, cancel := context.WithCancel(context.Background())
	return &session{env: e, botCtx: ctx, cancelBots: cancel}
}

// roomName is shared by every loadbot process of a test, so several
// processes can fill one room; identities carry the instance id instead.
func roomName(prefix string, i int) string { return fmt.Sprintf("%s-%d", prefix, i) }

// plan returns the bots that take the session from its current load to
// target: new rooms get publishers and subscribers, existing rooms get the
// extra subscribers (and publishers).
func (s *session) plan(target report.Load) []botSpec {
	cfg := s.env.cfg
	s.mu.Lock()
	cur := s.load
	s.mu.Unlock()
	var specs []botSpec
	add := func(room int, r role, from, to int, shapedUpTo int) {
		name := roomName(cfg.RoomPrefix, room)
		for i := from; i < to; i++ {
			kind := "pub"
			if r == roleSubscriber {
				kind = "sub"
			}
			sp := botSpec{id: fmt.Sprintf("%s-%s-%s%d", cfg.InstanceID, name, kind, i), room: name, role: r, index: i}
			if r == roleSubscriber && i < shapedUpTo {
				sp.link = cfg.Link
				sp.noNACK = cfg.Link.NoNACK
			}
			specs = append(specs, sp)
		}
	}
	shaped := func(subs int) int { return int(math.Round(cfg.ShapedShare * float64(subs))) }
	// Publishers first, everywhere: subscribers joining a room with its
	// tracks already published measure a join, not a wait for a publisher.
	for room := 0; room < target.Rooms; room++ {
		from := 0
		if room < cur.Rooms {
			from = cur.Publishers
		}
		add(room, rolePublisher, from, target.Publishers, 0)
	}
	for room := 0; room < target.Rooms; room++ {
		from := 0
		if room < cur.Rooms {
			from = cur.Subscribers
		}
		add(room, roleSubscriber, from, target.Subscribers, shaped(target.Subscribers))
	}
	return specs
}

// grow starts the bots of specs, paced at the join rate; it returns when
// every bot has been started (not joined), or ctx ends. target becomes the
// session's load.
func (s *session) grow(ctx context.Context, target report.Load, specs []botSpec) {
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
		b := newBot(sp, s.env)
		s.mu.Lock()
		s.bots = append(s.bots, b)
		s.next = time.Now().Add(gap)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			b.run(s.botCtx)
		}()
	}
}

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
			Tracks:      r.tracks,
			Reconnect: report.ReconnectInput{
				Redirects: r.reconnect.redirects, Reconnects: r.reconnect.reconnects,
				Failures: r.reconnect.failures, MediaGaps: r.reconnect.gaps,
				MediaLost: r.reconnect.unrestored, SignalURL: r.reconnect.url,
			},
		})
	}
	return rooms, dropped
}
