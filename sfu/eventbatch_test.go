package sfu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/surgertc/surge/sfu/signal"
)

func joinedEv(id string) roomEvent {
	return newRoomEvent(signal.Message{Type: signal.TypeParticipantJoined, Participant: &signal.ParticipantInfo{ID: id, Identity: "i-" + id}})
}

func leftEv(id string) roomEvent {
	return newRoomEvent(signal.Message{Type: signal.TypeParticipantLeft, ParticipantID: id})
}

func publishedEv(id string) roomEvent {
	return newRoomEvent(signal.Message{Type: signal.TypeTrackPublished, Track: &signal.TrackInfo{ID: id, Kind: "audio"}})
}

func unpublishedEv(id string) roomEvent {
	return newRoomEvent(signal.Message{Type: signal.TypeTrackUnpublished, Track: &signal.TrackInfo{ID: id, Kind: "audio"}})
}

// decodeEvents turns what take returned into the events a client handles,
// as docs/signaling.md tells clients to.
func decodeEvents(t *testing.T, raw []byte) []signal.Message {
	t.Helper()
	if raw == nil {
		return nil
	}
	var m signal.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("take returned invalid JSON %q: %v", raw, err)
	}
	if m.Type != signal.TypeEvents {
		return []signal.Message{m}
	}
	if len(m.Events) < 2 {
		t.Fatalf("an events message with %d events; a lone event goes alone", len(m.Events))
	}
	return m.Events
}

// describe is an event as "type id", for comparing sequences.
func describe(m signal.Message) string {
	switch m.Type {
	case signal.TypeParticipantJoined:
		return m.Type + " " + m.Participant.ID
	case signal.TypeParticipantLeft:
		return m.Type + " " + m.ParticipantID
	default:
		return m.Type + " " + m.Track.ID
	}
}

func TestEventBatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  [][]roomEvent // events added, then a take, per step
		want [][]string    // what each take returns
	}{
		{"one event goes alone", [][]roomEvent{{joinedEv("PA_1")}}, [][]string{{"participant_joined PA_1"}}},
		{"several go together in order",
			[][]roomEvent{{joinedEv("PA_1"), publishedEv("TR_1"), joinedEv("PA_2")}},
			[][]string{{"participant_joined PA_1", "track_published TR_1", "participant_joined PA_2"}}},
		{"a leave undoes a join still waiting", [][]roomEvent{{joinedEv("PA_1"), joinedEv("PA_2"), leftEv("PA_1")}}, [][]string{{"participant_joined PA_2"}}},
		{"join and leave cancel out", [][]roomEvent{{joinedEv("PA_1"), leftEv("PA_1")}}, [][]string{nil}},
		{"a track's whole life cancels out", [][]roomEvent{{joinedEv("PA_1"), publishedEv("TR_1"), unpublishedEv("TR_1"), leftEv("PA_1")}}, [][]string{nil}},
		{"a leave after the join went out is sent",
			[][]roomEvent{{joinedEv("PA_1")}, {leftEv("PA_1")}},
			[][]string{{"participant_joined PA_1"}, {"participant_left PA_1"}}},
		{"a leave of someone known before is kept among others",
			[][]roomEvent{{leftEv("PA_0"), joinedEv("PA_1"), unpublishedEv("TR_0")}},
			[][]string{{"participant_left PA_0", "participant_joined PA_1", "track_unpublished TR_0"}}},
		{"a replaced session: the old one leaves, the new one joins",
			[][]roomEvent{{joinedEv("PA_old")}, {leftEv("PA_old"), joinedEv("PA_new")}},
			[][]string{{"participant_joined PA_old"}, {"participant_left PA_old", "participant_joined PA_new"}}},
		{"nothing waiting", [][]roomEvent{{}}, [][]string{nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b eventBatch
			for i, step := range tc.add {
				for _, e := range step {
					b.add(e)
				}
				var got []string
				for _, m := range decodeEvents(t, b.take()) {
					got = append(got, describe(m))
				}
				if !slices.Equal(got, tc.want[i]) {
					t.Fatalf("take %d: got %v, want %v", i, got, tc.want[i])
				}
				if !b.empty() || b.take() != nil {
					t.Fatalf("take %d left events behind", i)
				}
			}
		})
	}
}

func TestEventBatchLoneEventIsSentAsItself(t *testing.T) {
	var b eventBatch
	e := joinedEv("PA_1")
	b.add(e)
	if got := b.take(); string(got) != string(e.raw) {
		t.Fatalf("got %s, want %s", got, e.raw)
	}
}

// However many events wait, one message stays within maxEventsBytes, and
// successive takes deliver them all, in order.
func TestEventBatchSplitsLargeBatches(t *testing.T) {
	var b eventBatch
	const n = 2000
	for i := range n {
		b.add(joinedEv(fmt.Sprintf("PA_%04d", i)))
	}
	var got []string
	takes := 0
	for raw := b.take(); raw != nil; raw = b.take() {
		takes++
		if len(raw) > maxEventsBytes {
			t.Fatalf("a message of %d bytes; the limit is %d", len(raw), maxEventsBytes)
		}
		for _, m := range decodeEvents(t, raw) {
			got = append(got, m.Participant.ID)
		}
	}
	if len(got) != n || takes < 2 {
		t.Fatalf("%d events in %d messages, want %d in several", len(got), takes, n)
	}
	for i, id := range got {
		if id != fmt.Sprintf("PA_%04d", i) {
			t.Fatalf("event %d is %s: out of order", i, id)
		}
	}
}

// A room whose members come and go at random, with the writer taking
// batches at random moments: what the client learns always adds up to the
// room as it is, and the batch never holds more than two events per member
// the room had at most, however much churn there was.
func TestEventBatchFollowsChurn(t *testing.T) {
	for seed := range 20 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		var b eventBatch
		room := map[string]bool{}   // the server's truth
		client := map[string]bool{} // what the client was told
		next, most := 0, 0
		apply := func(raw []byte) {
			for _, m := range decodeEvents(t, raw) {
				switch m.Type {
				case signal.TypeParticipantJoined:
					if client[m.Participant.ID] {
						t.Fatalf("seed %d: %s joined twice", seed, m.Participant.ID)
					}
					client[m.Participant.ID] = true
				case signal.TypeParticipantLeft:
					if !client[m.ParticipantID] {
						t.Fatalf("seed %d: %s left without having joined", seed, m.ParticipantID)
					}
					delete(client, m.ParticipantID)
				}
			}
		}
		for range 5000 {
			switch x := rng.IntN(10); {
			case x < 4 || len(room) == 0:
				id := fmt.Sprintf("PA_%d", next)
				next++
				room[id] = true
				b.add(joinedEv(id))
			case x < 8:
				ids := make([]string, 0, len(room))
				for id := range room {
					ids = append(ids, id)
				}
				slices.Sort(ids)
				id := ids[rng.IntN(len(ids))]
				delete(room, id)
				b.add(leftEv(id))
			default:
				apply(b.take())
			}
			most = max(most, len(room))
			if b.count > 2*most {
				t.Fatalf("seed %d: %d events wait for a room of at most %d", seed, b.count, most)
			}
			if len(b.evs) > 2*b.count+16 {
				t.Fatalf("seed %d: %d slots for %d events: churn grows the batch", seed, len(b.evs), b.count)
			}
		}
		for raw := b.take(); raw != nil; raw = b.take() {
			apply(raw)
		}
		if len(client) != len(room) {
			t.Fatalf("seed %d: the client knows %d members, the room has %d", seed, len(client), len(room))
		}
		for id := range room {
			if !client[id] {
				t.Fatalf("seed %d: the client misses %s", seed, id)
			}
		}
	}
}

func TestEventsMessageIsValidJSONWithTheEventsVerbatim(t *testing.T) {
	var b eventBatch
	a, c := joinedEv("PA_1"), leftEv("PA_2")
	b.add(a)
	b.add(c)
	raw := string(b.take())
	want := `{"type":"events","events":[` + string(a.raw) + `,` + string(c.raw) + `]}`
	if raw != want {
		t.Fatalf("got %s, want %s", raw, want)
	}
}

// In a crowd every member takes a batch per interval: taking one costs one
// allocation, the message, whatever the number of events in it.
func TestEventBatchTakeAllocatesOnce(t *testing.T) {
	evs := make([]roomEvent, 60)
	for i := range evs {
		evs[i] = joinedEv(fmt.Sprintf("PA_%03d", i))
	}
	var b eventBatch
	b.evs = make([]roomEvent, 0, len(evs))
	allocs := testing.AllocsPerRun(50, func() {
		for _, e := range evs {
			b.add(e)
		}
		if got := decodeEventsCount(b.take()); got != len(evs) {
			t.Fatalf("took %d events, want %d", got, len(evs))
		}
	})
	if allocs != 1 {
		t.Fatalf("take allocated %.1f times, want 1", allocs)
	}
}

// decodeEventsCount counts the events of an events message without
// allocating much: it only looks for the per-event type field.
func decodeEventsCount(raw []byte) int {
	return bytes.Count(raw, []byte(`"type":"`+signal.TypeParticipantJoined+`"`))
}

// Every participant's signaling queue is allocated whole when it connects
// (sendQueue entries): it must stay a small part of what a participant
// costs in memory. With a Message held by value it was 90 kB.
func TestSessionQueueIsSmall(t *testing.T) {
	if n := unsafe.Sizeof(outMsg{}) * sendQueue; n > 16<<10 {
		t.Fatalf("a session's send queue takes %d bytes", n)
	}
}
