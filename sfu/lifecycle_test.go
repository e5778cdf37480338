package sfu

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/surgertc/surge/sfu/signal"
)

// waitClosed waits until the server has closed c's socket.
func (c *testClient) waitClosed(d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-c.eventCh:
			if !ok {
				return
			}
		case <-deadline:
			c.t.Fatalf("socket still open after %s", d)
		}
	}
}

// gauge reads an unlabelled gauge from the server's registry.
func gauge(t *testing.T, s *Server, name string) float64 {
	t.Helper()
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

func roomSnapshot(s *Server, name string) (RoomSnapshot, bool) {
	for _, r := range s.Snapshot() {
		if r.Name == name {
			return r, true
		}
	}
	return RoomSnapshot{}, false
}

// TestRejoinReplacesSession: a reload or second tab joins with the same
// identity; the old session is told why and closed, the room keeps one
// participant of that identity, and the others see the swap.
func TestRejoinReplacesSession(t *testing.T) {
	s := startServer(t, nil)
	const room = "rejoin"
	observer := join(t, s, room, "observer")
	old := join(t, s, room, "alice")
	observer.waitFor(signal.TypeParticipantJoined, 5*time.Second)

	fresh := join(t, s, room, "alice")
	leave := old.waitFor(signal.TypeLeave, 5*time.Second)
	if leave.Code != signal.CodeReplaced {
		t.Fatalf("old session got leave %q, want %q", leave.Code, signal.CodeReplaced)
	}
	old.waitClosed(5 * time.Second)

	left := observer.waitFor(signal.TypeParticipantLeft, 5*time.Second)
	if left.ParticipantID != old.id {
		t.Fatalf("participant_left for %s, want the old session %s", left.ParticipantID, old.id)
	}
	joined := observer.waitFor(signal.TypeParticipantJoined, 5*time.Second)
	if joined.Participant == nil || joined.Participant.ID != fresh.id || joined.Participant.Identity != "alice" {
		t.Fatalf("participant_joined %+v, want the new session %s", joined.Participant, fresh.id)
	}

	r, ok := roomSnapshot(s, room)
	if !ok || len(r.Participants) != 2 {
		t.Fatalf("room %+v, want observer and one alice", r)
	}
	for _, p := range r.Participants {
		if p.Identity == "alice" && p.ID != fresh.id {
			t.Fatalf("alice is %s, want the new session %s", p.ID, fresh.id)
		}
	}
	if g := gauge(t, s, "surge_participants"); g != 2 {
		t.Fatalf("surge_participants = %v, want 2", g)
	}

	// joined answers join: a client must be able to treat it as the first
	// message of its session (the old session's departure concerns others).
	fresh.mu.Lock()
	first := fresh.events[0]
	fresh.mu.Unlock()
	if first.Type != signal.TypeJoined {
		t.Errorf("the new session's first message is %q (%s), want joined", first.Type, first.ParticipantID)
	}
}

// TestLeaveFreesGoroutines: a participant that subscribed, received media
// and left gives back every goroutine it cost, while others stay connected.
func TestLeaveFreesGoroutines(t *testing.T) {
	s := startServer(t, nil)
	const room = "leak"
	pub := join(t, s, room, "pub")
	stay := join(t, s, room, "stay")
	audio, video, _ := pub.publish()
	ap := startPump(audio, 20*time.Millisecond, 80, 960)
	defer ap.halt()
	vp := startPump(video, 10*time.Millisecond, 500, 3000)
	defer vp.halt()
	eventually(t, 15*time.Second, "the staying subscriber's tracks", func() bool { return stay.trackCount() == 2 })
	// Let the steady-state goroutines (RTCP loops, report timers) start.
	time.Sleep(500 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	c := join(t, s, room, "visitor")
	eventually(t, 15*time.Second, "the visitor's tracks", func() bool { return c.trackCount() == 2 })
	seen := c.track(trackIDOf(c, "video"))
	eventually(t, 5*time.Second, "media to the visitor", func() bool { return seen.count() > 10 })
	during := runtime.NumGoroutine()
	c.send(signal.Message{Type: signal.TypeLeave})
	stay.waitFor(signal.TypeParticipantLeft, 5*time.Second)
	c.close()

	eventually(t, 10*time.Second, "goroutines back to the pre-join baseline", func() bool { return runtime.NumGoroutine() <= baseline })
	if during <= baseline {
		t.Fatalf("setup: the visitor added no goroutines (%d → %d)", baseline, during)
	}
	// The ones who stayed still receive.
	tr := stay.track(trackIDOf(stay, "video"))
	n := tr.count()
	eventually(t, 5*time.Second, "the staying subscriber to keep receiving", func() bool { return tr.count() > n+20 })
}

// trackIDOf returns the id of c's received track of kind.
func trackIDOf(c *testClient, kind string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, tr := range c.tracks {
		if tr.track.Kind().String() == kind {
			return id
		}
	}
	c.t.Fatalf("no %s track", kind)
	return ""
}

// TestEmptyRoomClosesAfterTimeout: an empty room lingers for
// room.empty_timeout (a reload rejoins it) and is then closed.
func TestEmptyRoomClosesAfterTimeout(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Room.EmptyTimeout = 300 * time.Millisecond })
	const room = "ephemeral"
	c := join(t, s, room, "a")
	if _, ok := roomSnapshot(s, room); !ok {
		t.Fatal("the room is not listed while occupied")
	}
	if g := gauge(t, s, "surge_rooms"); g != 1 {
		t.Fatalf("surge_rooms = %v, want 1", g)
	}
	c.send(signal.Message{Type: signal.TypeLeave})
	c.waitClosed(5 * time.Second)
	eventually(t, 5*time.Second, "the room to close", func() bool {
		_, ok := roomSnapshot(s, room)
		return !ok
	})
	if g := gauge(t, s, "surge_rooms"); g != 0 {
		t.Fatalf("surge_rooms = %v after the room closed, want 0", g)
	}
	// The name is free again.
	join(t, s, room, "b")
}

// TestDrain: the graceful shutdown a SIGTERM starts. Readiness drops, new
// joins are turned away, connected clients are told to go, and Drain
// returns once they have, with nothing left running.
func TestDrain(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := startServer(t, nil)
	a := join(t, s, "drain", "a")
	b := join(t, s, "drain", "b")
	if code, _ := httpStatus(t, s.AdminURL()+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz %d before drain", code)
	}

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- s.Drain(ctx)
	}()
	for _, c := range []*testClient{a, b} {
		if m := c.waitFor(signal.TypeLeave, 5*time.Second); m.Code != signal.CodeDraining {
			t.Fatalf("leave code %q, want %q", m.Code, signal.CodeDraining)
		}
	}
	if code, _ := httpStatus(t, s.AdminURL()+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d while draining, want 503", code)
	}
	late := dial(t, s, devToken(t, "drain", "late"))
	if code := late.waitError(5 * time.Second); code != signal.CodeDraining {
		t.Fatalf("a join while draining got %q, want %q", code, signal.CodeDraining)
	}
	late.waitClosed(5 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("Drain returned (%v) while clients were connected", err)
	default:
	}

	// The clients do what leave asks.
	a.close()
	b.close()
	late.close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Drain: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Drain did not return after every client left")
	}
	if len(s.Snapshot()) != 0 {
		t.Fatalf("rooms left after drain: %+v", s.Snapshot())
	}
}

// TestDrainDeadline: clients that ignore leave are cut off when Drain's
// context ends, and the server still closes completely.
func TestDrainDeadline(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := startServer(t, nil)
	a := join(t, s, "stubborn", "a")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if el := time.Since(start); el < 400*time.Millisecond || el > 5*time.Second {
		t.Fatalf("Drain returned after %s, want about its 500ms deadline", el)
	}
	a.waitClosed(5 * time.Second)
	a.close()
}

// TestAdminEndpoints: what operators and loadbot scrape must be there.
func TestAdminEndpoints(t *testing.T) {
	s := startServer(t, nil)
	c := join(t, s, "admin", "a")

	if code, body := httpStatus(t, s.AdminURL()+"/healthz"); code != http.StatusOK || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz %d %q", code, body)
	}
	code, body := httpStatus(t, s.AdminURL()+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics %d", code)
	}
	for _, family := range []string{
		"surge_rooms", "surge_participants", "surge_tracks_published", "surge_tracks_subscribed",
		"surge_packets_received_total", "surge_bytes_received_total", "surge_packets_sent_total",
		"surge_bytes_sent_total", "surge_packets_dropped_total", "surge_nack_requests_total",
		"surge_nack_answered_total", "surge_pli_forwarded_total", "surge_joins_total",
		"surge_rtt_seconds", "surge_forward_latency_seconds", "surge_gomaxprocs",
		"surge_host_cpu_cores", "process_cpu_seconds_total", "go_goroutines",
	} {
		if !strings.Contains(body, "\n# TYPE "+family+" ") {
			t.Errorf("/metrics lacks %s", family)
		}
	}
	if code, body := httpStatus(t, s.AdminURL()+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/ %d", code)
	}
	code, body = httpStatus(t, s.AdminURL()+"/debug/rooms")
	if code != http.StatusOK {
		t.Fatalf("/debug/rooms %d", code)
	}
	var rooms []RoomSnapshot
	if err := json.Unmarshal([]byte(body), &rooms); err != nil {
		t.Fatalf("/debug/rooms is not JSON: %v\n%s", err, body)
	}
	if len(rooms) != 1 || rooms[0].Name != "admin" || len(rooms[0].Participants) != 1 || rooms[0].Participants[0].ID != c.id {
		t.Fatalf("/debug/rooms = %+v, want room admin with %s", rooms, c.id)
	}
}
