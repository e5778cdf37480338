package sfu

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/surgertc/surge/sfu/signal"
)

// crowdMember is one signaling-only socket of a crowd. While the crowd
// joins it only reads frames and keeps them: a real crowd's clients run
// on other machines, and decoding here would take the server's CPU. Its
// view of the room is built from the frames afterwards.
type crowdMember struct {
	identity string
	token    string
	conn     *websocket.Conn
	leaver   bool // leaves as soon as it has joined

	// Owned by the read goroutine until the crowd is over.
	sent   time.Time
	first  time.Time // when the first frame (joined) arrived
	frames [][]byte

	// Set by decode.
	id     string
	joinIn time.Duration // 0: no joined
	view   map[string]bool
	faults []string
}

// crowd is a storm of sockets joining one room at once.
type crowd struct {
	members []*crowdMember
	// maxQueued is the most messages and room events any session held for
	// its socket at once, sampled while the crowd joined.
	maxQueued int
}

// runCrowd opens n sockets, sends every join at once, waits until each has
// had its first frame and then until the room has been quiet for a while
// (or until limit), and decodes what each socket got. Every leaveEvery-th
// member (none if 0) leaves as soon as it has joined, while the others are
// still joining.
func runCrowd(tb testing.TB, s *Server, room string, n, leaveEvery int, limit time.Duration) *crowd {
	tb.Helper()
	c := &crowd{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dials := make(chan struct{}, 32) // dial politely; the joins are the storm
	var dialWG sync.WaitGroup
	for i := range n {
		m := &crowdMember{identity: fmt.Sprintf("m%04d", i), leaver: leaveEvery > 0 && i%leaveEvery == leaveEvery-1}
		m.token = devToken(tb, room, m.identity)
		c.members = append(c.members, m)
		dialWG.Add(1)
		go func() {
			defer dialWG.Done()
			dials <- struct{}{}
			defer func() { <-dials }()
			if conn, _, err := websocket.Dial(ctx, s.URL(), nil); err == nil {
				conn.SetReadLimit(64 << 20)
				m.conn = conn
			}
		}()
	}
	dialWG.Wait()

	var wg sync.WaitGroup
	var joined atomic.Int32
	var last atomic.Int64 // unix nanoseconds of the latest frame anywhere
	start := make(chan struct{})
	for _, m := range c.members {
		if m.conn == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.run(ctx, start, &joined, &last)
		}()
	}
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for ctx.Err() == nil {
			c.maxQueued = max(c.maxQueued, s.maxQueued())
			time.Sleep(2 * time.Millisecond)
		}
	}()
	close(start)
	// Quiet: every socket has joined and no frame came for a while, so
	// every event the joins caused has been delivered.
	const quiet = 300 * time.Millisecond
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if int(joined.Load()) == n && time.Since(time.Unix(0, last.Load())) > quiet {
			break
		}
	}
	cancel()
	for _, m := range c.members {
		if m.conn != nil {
			_ = m.conn.CloseNow()
		}
	}
	wg.Wait()
	<-sampled
	for _, m := range c.members {
		m.decode()
	}
	return c
}

// run is one member's read loop.
func (m *crowdMember) run(ctx context.Context, start <-chan struct{}, joined *atomic.Int32, last *atomic.Int64) {
	<-start
	m.sent = time.Now()
	data, _ := json.Marshal(signal.Message{Type: signal.TypeJoin, Token: m.token})
	if m.conn.Write(ctx, websocket.MessageText, data) != nil {
		return
	}
	for {
		_, data, err := m.conn.Read(ctx)
		if err != nil {
			return
		}
		now := time.Now()
		last.Store(now.UnixNano())
		if m.first.IsZero() {
			m.first = now
			joined.Add(1)
		}
		m.frames = append(m.frames, data)
		if m.leaver {
			data, _ := json.Marshal(signal.Message{Type: signal.TypeLeave})
			_ = m.conn.Write(ctx, websocket.MessageText, data)
			return
		}
	}
}

// decode builds the member's view from its frames, noting anything a
// client could not make sense of.
func (m *crowdMember) decode() {
	m.view = map[string]bool{}
	if m.conn == nil {
		m.faults = append(m.faults, "could not dial")
		return
	}
	for _, data := range m.frames {
		var w crowdMsg
		if err := json.Unmarshal(data, &w); err != nil {
			m.faults = append(m.faults, "bad JSON: "+err.Error())
			continue
		}
		if w.Type != signal.TypeEvents {
			m.apply(w)
			continue
		}
		if len(w.Events) < 2 {
			m.faults = append(m.faults, fmt.Sprintf("an events message with %d events", len(w.Events)))
		}
		for _, ev := range w.Events {
			m.apply(ev)
		}
	}
}

// crowdMsg is the part of a signaling message a crowd member reads.
type crowdMsg struct {
	Type          string     `json:"type"`
	ParticipantID string     `json:"participant_id"`
	Participants  []crowdID  `json:"participants"`
	Participant   *crowdID   `json:"participant"`
	Code          string     `json:"code"`
	Reason        string     `json:"message"`
	Events        []crowdMsg `json:"events"`
}

type crowdID struct {
	ID string `json:"id"`
}

// apply updates the member's view with one message.
func (m *crowdMember) apply(ev crowdMsg) {
	fault := func(format string, args ...any) { m.faults = append(m.faults, fmt.Sprintf(format, args...)) }
	switch ev.Type {
	case signal.TypeJoined:
		if m.joinIn > 0 {
			fault("joined twice")
		}
		m.joinIn = m.first.Sub(m.sent)
		m.id = ev.ParticipantID
		for _, p := range ev.Participants {
			if m.view[p.ID] {
				fault("joined lists %s twice", p.ID)
			}
			m.view[p.ID] = true
		}
	case signal.TypeParticipantJoined:
		switch {
		case m.joinIn == 0:
			fault("participant_joined %s before joined", ev.Participant.ID)
		case ev.Participant.ID == m.id:
			fault("told of its own join")
		case m.view[ev.Participant.ID]:
			fault("participant_joined %s, already known", ev.Participant.ID)
		}
		m.view[ev.Participant.ID] = true
	case signal.TypeParticipantLeft:
		if !m.view[ev.ParticipantID] {
			fault("participant_left %s, never known", ev.ParticipantID)
		}
		delete(m.view, ev.ParticipantID)
	case signal.TypeError, signal.TypeLeave:
		fault("%s %s: %s", ev.Type, ev.Code, ev.Reason)
	}
	if m.joinIn == 0 && ev.Type != signal.TypeJoined {
		fault("first message %s, not joined", ev.Type)
	}
}

// check fails tb unless every member joined, every event it got made sense
// where it came, and each member that stayed ends knowing exactly the
// others that stayed.
func (c *crowd) check(tb testing.TB) {
	tb.Helper()
	var stayers []string
	for _, m := range c.members {
		if !m.leaver {
			stayers = append(stayers, m.id)
		}
	}
	bad := 0
	for _, m := range c.members {
		var problems []string
		if m.joinIn == 0 {
			problems = append(problems, "never joined")
		}
		problems = append(problems, m.faults...)
		if !m.leaver {
			for _, id := range stayers {
				if id != m.id && id != "" && !m.view[id] {
					problems = append(problems, "misses "+id)
					break
				}
			}
			if len(m.view) != len(stayers)-1 {
				problems = append(problems, fmt.Sprintf("knows %d others, want %d", len(m.view), len(stayers)-1))
			}
		}
		if len(problems) > 0 {
			bad++
			if bad <= 5 {
				tb.Errorf("%s (%s): %v", m.identity, m.id, problems[:min(len(problems), 4)])
			}
		}
	}
	if bad > 0 {
		tb.Errorf("%d of %d members have an inconsistent view of the room", bad, len(c.members))
	}
}

// joinQuantile is the q-quantile of the time from join sent to joined.
func (c *crowd) joinQuantile(q float64) time.Duration {
	var d []time.Duration
	for _, m := range c.members {
		if m.joinIn > 0 {
			d = append(d, m.joinIn)
		}
	}
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

func (c *crowd) framesPerMember() float64 {
	total := 0
	for _, m := range c.members {
		total += len(m.frames)
	}
	return float64(total) / float64(len(c.members))
}

// maxQueued is the longest send queue of any session right now.
func (s *Server) maxQueued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for sess := range s.sessions {
		n = max(n, sess.queued())
	}
	return n
}

func crowdServer(tb testing.TB, n int) *Server {
	return startServer(tb, func(c *Config) { c.Room.MaxParticipants = n })
}

// A crowd joining one room at once: every socket joins, and the room events
// it gets leave it with exactly the others in its list, whatever the order
// in which the joins were processed; also when some leave again while the
// rest are still joining.
func TestCrowdJoiningAtOnceSeesEveryone(t *testing.T) {
	n := 300
	if raceEnabled {
		n = 150
	}
	for _, tc := range []struct {
		name       string
		leaveEvery int
	}{{"all stay", 0}, {"every fifth leaves at once", 5}} {
		t.Run(tc.name, func(t *testing.T) {
			s := crowdServer(t, n)
			c := runCrowd(t, s, "crowd", n, tc.leaveEvery, 30*time.Second)
			c.check(t)
			t.Logf("%d sockets: join p50 %v p99 %v, %.0f frames per socket, max queued %d",
				n, c.joinQuantile(0.5), c.joinQuantile(0.99), c.framesPerMember(), c.maxQueued)
		})
	}
}

// BenchmarkCrowdJoin is the full storm: 1,000 sockets joining one room at
// once. It reports join p50/p99, frames each socket read and the longest
// send queue seen.
func BenchmarkCrowdJoin(b *testing.B) {
	const n = 1000
	for range b.N {
		b.StopTimer()
		srv := crowdServer(b, n)
		b.StartTimer()
		c := runCrowd(b, srv, "crowd", n, 0, time.Minute)
		b.StopTimer()
		b.Logf("%d sockets: join p50 %v p99 %v, %.0f frames per socket, max queued %d",
			n, c.joinQuantile(0.5), c.joinQuantile(0.99), c.framesPerMember(), c.maxQueued)
		c.check(b)
		b.ReportMetric(float64(c.joinQuantile(0.5).Milliseconds()), "join-p50-ms")
		b.ReportMetric(float64(c.joinQuantile(0.99).Milliseconds()), "join-p99-ms")
		b.ReportMetric(c.framesPerMember(), "frames/socket")
		b.ReportMetric(float64(c.maxQueued), "max-queued")
		_ = srv.Close()
	}
}

// queued is how many messages and room events wait for the socket.
func (s *session) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.out) + s.events.count
}
