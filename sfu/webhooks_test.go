package sfu

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/webhook"
)

// hookReceiver is a real endpoint that checks each request's signature
// with the dev key, records the events and can fail or hang on purpose.
type hookReceiver struct {
	t    *testing.T
	srv  *httptest.Server
	gate chan struct{} // non-nil: every request hangs until closed

	mu       sync.Mutex
	failures int // answer this many requests with 503 first
	events   []webhook.Event
}

func newHookReceiver(t *testing.T, failures int, hang bool) *hookReceiver {
	h := &hookReceiver{t: t, failures: failures}
	if hang {
		h.gate = make(chan struct{})
	}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	if hang {
		t.Cleanup(func() { close(h.gate) }) // runs first: unblock before Close waits
	}
	return h
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := webhook.Verify(r, map[string]string{auth.DevAPIKey: auth.DevAPISecret}, 1<<20)
	if err != nil {
		h.t.Errorf("webhook signature: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if h.gate != nil {
		select {
		case <-h.gate:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failures > 0 {
		h.failures--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev webhook.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		h.t.Errorf("webhook body: %v: %s", err, body)
	}
	h.events = append(h.events, ev)
}

func (h *hookReceiver) kinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.events))
	for _, ev := range h.events {
		out = append(out, ev.Event)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func (h *hookReceiver) kindsOf(identity string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, ev := range h.events {
		if ev.Part != nil && ev.Part.Identity == identity {
			out = append(out, ev.Event)
		}
	}
	return out
}

// TestWebhooksReportTheRoomsLife: a room's whole life reaches a receiver
// that is down at first, in order and signed, while a second receiver that
// hangs only costs its own dropped events, counted, and never the room.
func TestWebhooksReportTheRoomsLife(t *testing.T) {
	good := newHookReceiver(t, 3, false)
	stuck := newHookReceiver(t, 0, true)
	s := startServer(t, func(c *Config) {
		c.Webhook.URLs = []string{good.srv.URL + "/hooks", stuck.srv.URL}
		// Retries of the first event end within ~50 ms, before the next
		// events could fill the queue of 4; the hung receiver fills it.
		c.Webhook.Backoff = 5 * time.Millisecond
		c.Webhook.QueueSize = 4
		c.Webhook.Timeout = time.Second
		c.Room.EmptyTimeout = 200 * time.Millisecond
	})
	const room = "hooks"
	alice := join(t, s, room, "alice")
	audio, video, _ := alice.publish()
	ap := startPump(audio, 20*time.Millisecond, 80, 960)
	vp := startPump(video, 20*time.Millisecond, 500, 3000)
	bob := join(t, s, room, "bob")
	eventually(t, 15*time.Second, "bob subscribed", func() bool { return bob.trackCount() == 2 })
	ap.halt()
	vp.halt()
	alice.close()
	bob.close()

	want := []string{
		webhook.RoomStarted, webhook.ParticipantJoined, webhook.TrackPublished, webhook.TrackPublished,
		webhook.ParticipantJoined, webhook.TrackUnpublished, webhook.TrackUnpublished, webhook.ParticipantLeft,
		webhook.ParticipantLeft, webhook.RoomFinished,
	}
	eventually(t, 15*time.Second, "every event at the receiver that came back", func() bool { return len(good.kinds()) >= len(want) })
	// Bob's join races alice's tracks going live; the room's and each
	// participant's own events are ordered.
	got := good.kinds()
	if got[0] != webhook.RoomStarted || got[len(got)-1] != webhook.RoomFinished || !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("events %v,\nwant (up to bob's join) %v", got, want)
	}
	aliceWant := []string{webhook.ParticipantJoined, webhook.TrackPublished, webhook.TrackPublished, webhook.TrackUnpublished, webhook.TrackUnpublished, webhook.ParticipantLeft}
	if a := good.kindsOf("alice"); !slices.Equal(a, aliceWant) {
		t.Fatalf("alice's events %v, want %v", a, aliceWant)
	}
	good.mu.Lock()
	ids := map[string]bool{}
	for _, ev := range good.events {
		if ids[ev.ID] {
			t.Errorf("event %s delivered twice", ev.ID)
		}
		ids[ev.ID] = true
		if ev.Room.Name != room || ev.CreatedAt.IsZero() {
			t.Errorf("event without room or time: %+v", ev)
		}
		if ev.Event == webhook.TrackPublished && (ev.Track == nil || ev.Part == nil || ev.Part.Identity != "alice") {
			t.Errorf("track_published without alice's track: %+v", ev)
		}
	}
	good.mu.Unlock()
	if got := value(t, s, "surge_webhook_dropped_total"); got < float64(len(want)-5) {
		t.Errorf("surge_webhook_dropped_total = %v; the hung receiver (one in flight, 4 queued) should have dropped the rest of %d events", got, len(want))
	}
	if got := value(t, s, "surge_webhook_retries_total"); got < 3 {
		t.Errorf("surge_webhook_retries_total = %v, want >= 3 (the first receiver failed 3 times)", got)
	}
}

func TestWebhookConfigChecks(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"not a URL":       func(c *Config) { c.Webhook.URLs = []string{"ftp://x"} },
		"unknown api_key": func(c *Config) { c.Webhook.URLs = []string{"http://127.0.0.1:1/"}; c.Webhook.APIKey = "nope" },
		"ambiguous key": func(c *Config) {
			c.Webhook.URLs = []string{"http://127.0.0.1:1/"}
			c.Keys = map[string]string{"a": "1", "b": "2"}
		},
		"zero queue":           func(c *Config) { c.Webhook.URLs = []string{"http://127.0.0.1:1/"}; c.Webhook.QueueSize = 0 },
		"cert without key":     func(c *Config) { c.TLS.CertFile = "x.pem" },
		"bad trusted proxy":    func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/99"} },
		"zero reload interval": func(c *Config) { c.TLS = TLSConfig{CertFile: "a", KeyFile: "b"} },
	} {
		cfg := DefaultConfig()
		mutate(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	cfg := DefaultConfig()
	cfg.Keys = map[string]string{"a": "1", "b": "2"}
	cfg.Webhook.URLs, cfg.Webhook.APIKey = []string{"https://hooks.example.com/surge"}, "b"
	cfg.ListenAddr = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid webhook config refused: %v", err)
	}
}
