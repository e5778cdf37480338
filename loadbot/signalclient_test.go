package loadbot

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/surgertc/surge/sfu/signal"
)

// The SFU batches room events that happen close together into one events
// message; a bot must see each of them, in order, as if sent alone.
func TestSignalClientUnwrapsEventsMessages(t *testing.T) {
	frames := []string{
		`{"type":"participant_joined","participant":{"id":"PA_1","identity":"a"}}`,
		`{"type":"events","events":[{"type":"participant_left","participant_id":"PA_1"},` +
			`{"type":"participant_joined","participant":{"id":"PA_2","identity":"b"}},` +
			`{"type":"track_published","track":{"id":"TR_1","participant_id":"PA_2","stream_id":"PA_2","kind":"audio"}}]}`,
		`{"type":"layer","track_id":"TR_1","layer":"q"}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for _, f := range frames {
			if c.Write(r.Context(), websocket.MessageText, []byte(f)) != nil {
				return
			}
		}
		_, _, _ = c.Read(r.Context()) // until the client goes
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialSignal(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 16)
	c.start(func(m signal.Message) {
		id := m.ParticipantID
		switch {
		case m.Participant != nil:
			id = m.Participant.ID
		case m.Track != nil:
			id = m.Track.ID
		case m.TrackID != "":
			id = m.TrackID
		}
		got <- m.Type + " " + id
	}, func(error) {})
	defer c.close(false)

	want := []string{"participant_joined PA_1", "participant_left PA_1", "participant_joined PA_2", "track_published TR_1", "layer TR_1"}
	var seen []string
	for len(seen) < len(want) {
		select {
		case s := <-got:
			seen = append(seen, s)
		case <-ctx.Done():
			t.Fatalf("got %v, want %v", seen, want)
		}
	}
	if !slices.Equal(seen, want) {
		t.Fatalf("got %v, want %v", seen, want)
	}
}
