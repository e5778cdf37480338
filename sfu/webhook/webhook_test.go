package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/surgertc/surge/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var keys = map[string]string{"APIhook": "hook-secret"}

func TestBackoff(t *testing.T) {
	base := 100 * time.Millisecond
	for _, tc := range []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{1, 1, 100 * time.Millisecond},
		{2, 1, 200 * time.Millisecond},
		{4, 1, 800 * time.Millisecond},
		{0, 1, 100 * time.Millisecond},
		{30, 1, maxBackoff},
		{3, 0.5, 200 * time.Millisecond},
		{3, 1.5, 600 * time.Millisecond},
		{3, 9, 600 * time.Millisecond}, // jitter clamped
		{3, -1, 200 * time.Millisecond},
	} {
		if got := Backoff(tc.n, base, tc.jitter); got != tc.want {
			t.Errorf("Backoff(%d, %v, %v) = %v, want %v", tc.n, base, tc.jitter, got, tc.want)
		}
	}
}

func TestSignAndVerify(t *testing.T) {
	body := []byte(`{"event":"room_started"}`)
	now := time.Now()
	auth, err := Sign(body, "APIhook", "hook-secret", now)
	if err != nil {
		t.Fatal(err)
	}
	req := func(auth string, body []byte) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(string(body)))
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return r
	}
	if got, err := Verify(req(auth, body), keys, 1<<20); err != nil || string(got) != string(body) {
		t.Fatalf("Verify = %q, %v", got, err)
	}
	wrongSecret, _ := Sign(body, "APIhook", "guess", now)
	expired, _ := Sign(body, "APIhook", "hook-secret", now.Add(-time.Hour))
	unknownKey, _ := Sign(body, "APIother", "hook-secret", now)
	for _, tc := range []struct {
		name string
		r    *http.Request
		want error
	}{
		{"tampered body", req(auth, []byte(`{"event":"room_finished"}`)), ErrBodyMismatch},
		{"wrong secret", req(wrongSecret, body), ErrBadSignature},
		{"expired", req(expired, body), ErrBadSignature},
		{"unknown key", req(unknownKey, body), ErrBadSignature},
		{"unsigned", req("", body), ErrNoSignature},
	} {
		if _, err := Verify(tc.r, keys, 1<<20); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// receiver is a real HTTP endpoint that verifies every request's signature
// and can be told to fail.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	fail   func(n int) int // status to answer request n (0-based) with; 0 = drop the connection, 200 = accept
	n      int
	events []Event
	gate   chan struct{} // when set, requests wait for it
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := Verify(r, keys, 1<<20)
	if err != nil {
		rc.t.Errorf("receiver: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	rc.mu.Lock()
	gate, n := rc.gate, rc.n
	rc.n++
	status := http.StatusOK
	if rc.fail != nil {
		status = rc.fail(n)
	}
	rc.mu.Unlock()
	if gate != nil {
		<-gate
	}
	switch status {
	case 0:
		conn, _, _ := w.(http.Hijacker).Hijack()
		_ = conn.Close()
		return
	case http.StatusOK:
	default:
		http.Error(w, "failing on purpose", status)
		return
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.t.Errorf("receiver: body is not an event: %s", body)
	}
	if r.Header.Get("Surge-Event") != ev.Event || r.Header.Get("Surge-Event-Id") != ev.ID {
		rc.t.Errorf("headers %q/%q disagree with the body %+v", r.Header.Get("Surge-Event"), r.Header.Get("Surge-Event-Id"), ev)
	}
	rc.mu.Lock()
	rc.events = append(rc.events, ev)
	rc.mu.Unlock()
}

func (rc *receiver) received() []Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Event(nil), rc.events...)
}

func newNotifier(t *testing.T, urls []string, queue int) (*Notifier, *metrics.Webhook) {
	m := metrics.NewWebhook(nil)
	n := New(Config{
		URLs: urls, APIKey: "APIhook", Secret: "hook-secret",
		QueueSize: queue, Timeout: 2 * time.Second, MaxAttempts: 8, Backoff: 10 * time.Millisecond,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	n.Start()
	return n, m
}

func event(i int) Event {
	return Event{ID: fmt.Sprintf("EV_%d", i), Event: ParticipantJoined, CreatedAt: time.Now(), Room: Room{Name: "r"}, Part: &Participant{ID: "PA_1", Identity: fmt.Sprint("p", i)}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDeliveryRidesOutAnOutage: the receiver answers 503, then drops
// connections, then comes back; every event still arrives, once, in order,
// signed, and the retries are counted.
func TestDeliveryRidesOutAnOutage(t *testing.T) {
	rc := newReceiver(t)
	rc.fail = func(n int) int {
		switch {
		case n < 3:
			return http.StatusServiceUnavailable
		case n < 5:
			return 0
		}
		return http.StatusOK
	}
	n, m := newNotifier(t, []string{rc.srv.URL + "/hook"}, 16)
	for i := range 5 {
		n.Notify(event(i))
	}
	waitFor(t, "5 deliveries", func() bool { return len(rc.received()) == 5 })
	n.Close(context.Background())
	for i, ev := range rc.received() {
		if ev.ID != fmt.Sprintf("EV_%d", i) {
			t.Fatalf("delivery %d is %s: out of order or duplicated", i, ev.ID)
		}
	}
	if got := value(m.Retries()); got != 5 {
		t.Errorf("retries = %v, want 5 (3 refusals + 2 dropped connections)", got)
	}
	if d, f := value(m.Delivered()), value(m.Failed()); d != 5 || f != 0 {
		t.Errorf("delivered %v, failed %v; want 5, 0", d, f)
	}
}

// TestFullQueueDropsWithoutBlocking: with the receiver stuck, Notify still
// returns at once; what does not fit the queue is dropped and counted.
func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	rc := newReceiver(t)
	gate := make(chan struct{})
	rc.gate = gate
	n, m := newNotifier(t, []string{rc.srv.URL}, 2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10 {
			n.Notify(event(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify blocked on a stuck receiver")
	}
	queued, dropped := value(m.Queued()), value(m.Dropped())
	if queued+dropped != 10 || queued > 3 || dropped < 7 {
		t.Fatalf("queued %v, dropped %v: want at most queue (2) + one in flight queued, the rest dropped", queued, dropped)
	}
	close(gate)
	n.Close(context.Background())
	if got := value(m.Delivered()); got != queued {
		t.Fatalf("delivered %v of %v queued", got, queued)
	}
}

// TestRefusedIsNotRetried: a 4xx means the receiver will not take it
// (e.g. it rejects the signature); retrying would not help.
func TestRefusedIsNotRetried(t *testing.T) {
	rc := newReceiver(t)
	rc.fail = func(int) int { return http.StatusBadRequest }
	n, m := newNotifier(t, []string{rc.srv.URL}, 4)
	n.Notify(event(0))
	waitFor(t, "the failure", func() bool { return value(m.Failed()) == 1 })
	n.Close(context.Background())
	if r := value(m.Retries()); r != 0 {
		t.Fatalf("%v retries of a 400", r)
	}
}

// TestCloseGivesUpAtDeadline: a dead endpoint cannot hold shutdown past
// Close's context; what is left is counted as dropped or failed.
func TestCloseGivesUpAtDeadline(t *testing.T) {
	rc := newReceiver(t)
	rc.fail = func(int) int { return http.StatusServiceUnavailable }
	n, m := newNotifier(t, []string{rc.srv.URL}, 8)
	for i := range 4 {
		n.Notify(event(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	n.Close(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Close took %v", took)
	}
	if f, d := value(m.Failed()), value(m.Dropped()); f+d != 4 {
		t.Fatalf("failed %v + dropped %v, want all 4 accounted for", f, d)
	}
	if q := value(m.QueueLength()); q != 0 {
		t.Fatalf("queue length %v after Close", q)
	}
}

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
