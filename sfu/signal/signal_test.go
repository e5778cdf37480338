package signal_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/surgertc/surge/sfu/signal"
)

// seedMessages is one valid message of every type, client and server, plus
// the shapes the fuzzer should mutate from: nested objects, optional
// pointers, escapes. The same strings are in testdata/fuzz/FuzzDecode.
var seedMessages = []string{
	`{"type":"join","token":"eyJhbGciOiJIUzI1NiJ9.e30.sig","room":"demo"}`,
	`{"type":"offer","target":"publisher","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}`,
	`{"type":"answer","target":"subscriber","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}`,
	`{"type":"candidate","target":"publisher","candidate":{"candidate":"candidate:1 1 udp 2130706431 192.0.2.10 54321 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}}`,
	`{"type":"candidate","target":"subscriber","candidate":{"candidate":""}}`,
	`{"type":"subscription","track_id":"TR_v1","max_layer":"h","paused":false}`,
	`{"type":"subscription","track_id":"TR_v1","paused":true}`,
	`{"type":"leave"}`,
	`{"type":"ping"}`,
	`{"type":"pong"}`,
	`{"type":"joined","participant_id":"PA_1","identity":"alice","room":"demo","participants":[{"id":"PA_2","identity":"bob","tracks":[{"id":"TR_v1","participant_id":"PA_2","stream_id":"PA_2","kind":"video","codec":"video/VP8","layers":["q","h","f"]}]}],"ice_servers":[{"urls":["stun:stun.example.com:3478"],"username":"u","credential":"c"}]}`,
	`{"type":"participant_joined","participant":{"id":"PA_2","identity":"bob"}}`,
	`{"type":"participant_left","participant_id":"PA_2"}`,
	`{"type":"track_published","track":{"id":"TR_a1","participant_id":"PA_2","stream_id":"PA_2","kind":"audio"}}`,
	`{"type":"track_unpublished","track":{"id":"TR_a1","participant_id":"PA_2","stream_id":"PA_2","kind":"audio"}}`,
	`{"type":"events","events":[{"type":"participant_left","participant_id":"PA_2"},{"type":"participant_joined","participant":{"id":"PA_3","identity":"carol"}}]}`,
	`{"type":"bandwidth","bitrate_bps":1850000}`,
	`{"type":"layer","track_id":"TR_v1","layer":"q","paused":false}`,
	`{"type":"error","code":"invalid_sdp","message":"offer rejected: \u00e9\ud83d\ude00"}`,
	`{"type":"leave","code":"server_draining","message":"bye"}`,
	`{"type":"nope"}`,
	`{"type":"ping"}]`,
	`{"type":`,
	`[]`,
	`null`,
}

// fuzzLimit is small so the fuzzer easily produces inputs on both sides of it.
const fuzzLimit = 2048

// FuzzDecode protects the server's first line of defence: whatever a peer
// sends, Decode returns a message or a protocol error (never a panic, never
// an untyped error), a message it accepts survives re-encoding unchanged,
// and nothing over the limit gets past the size check.
func FuzzDecode(f *testing.F) {
	for _, s := range seedMessages {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"type":"join","token":"` + strings.Repeat("x", fuzzLimit) + `"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := signal.Decode(data, fuzzLimit)
		if len(data) > fuzzLimit {
			if code := codeOf(t, err); code != signal.CodeTooLarge {
				t.Fatalf("%d bytes over a limit of %d: got %v, want %s", len(data), fuzzLimit, err, signal.CodeTooLarge)
			}
			return
		}
		if err != nil {
			switch code := codeOf(t, err); code {
			case signal.CodeBadRequest, signal.CodeUnknownType:
			default:
				t.Fatalf("unexpected code %s for %q", code, data)
			}
			if !reflect.DeepEqual(m, signal.Message{}) {
				t.Fatalf("a rejected message must come back empty, got %+v", m)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("Decode accepted a message Validate rejects: %v", err)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("accepted message does not re-encode: %v", err)
		}
		// Re-encoding may grow the message (escapes), so no limit here.
		m2, err := signal.Decode(again, 0)
		if err != nil {
			t.Fatalf("re-encoded message %s is rejected: %v", again, err)
		}
		if !reflect.DeepEqual(normalize(m), normalize(m2)) {
			t.Fatalf("round trip changed the message:\n in  %q\n out %s\n %+v\n %+v", data, again, m, m2)
		}
	})
}

// codeOf returns the protocol code of err, failing the test when err is
// not a *signal.Error: the server sends the code back verbatim.
func codeOf(t *testing.T, err error) signal.Code {
	t.Helper()
	var pe *signal.Error
	if !errors.As(err, &pe) {
		t.Fatalf("want a *signal.Error, got %T %v", err, err)
	}
	return pe.Code
}

// normalize maps empty slices to nil: with omitempty, "participants":[]
// decodes to an empty slice and re-encodes to nothing, which is the same
// message.
func normalize(m signal.Message) signal.Message {
	if len(m.Participants) == 0 {
		m.Participants = nil
	} else {
		ps := make([]signal.ParticipantInfo, len(m.Participants))
		for i, p := range m.Participants {
			ps[i] = normParticipant(p)
		}
		m.Participants = ps
	}
	if m.Participant != nil {
		p := normParticipant(*m.Participant)
		m.Participant = &p
	}
	if m.Track != nil {
		tr := normTrack(*m.Track)
		m.Track = &tr
	}
	if len(m.ICEServers) == 0 {
		m.ICEServers = nil
	} else {
		ss := make([]signal.ICEServer, len(m.ICEServers))
		for i, s := range m.ICEServers {
			if len(s.URLs) == 0 {
				s.URLs = nil
			}
			ss[i] = s
		}
		m.ICEServers = ss
	}
	return m
}

func normParticipant(p signal.ParticipantInfo) signal.ParticipantInfo {
	if len(p.Tracks) == 0 {
		p.Tracks = nil
		return p
	}
	tracks := make([]signal.TrackInfo, len(p.Tracks))
	for i, tr := range p.Tracks {
		tracks[i] = normTrack(tr)
	}
	p.Tracks = tracks
	return p
}

func normTrack(tr signal.TrackInfo) signal.TrackInfo {
	if len(tr.Layers) == 0 {
		tr.Layers = nil
	}
	return tr
}

// TestDecodeValidate pins every rule of Decode and Validate to the code a
// client gets: clients switch on these codes, so a change here is a
// protocol change (see docs/signaling.md).
func TestDecodeValidate(t *testing.T) {
	const limit = 1024
	cases := []struct {
		name string
		in   string
		want signal.Code // "" = accepted
	}{
		// Accepted: each client type with its required fields.
		{"join", `{"type":"join","token":"t"}`, ""},
		{"join with room", `{"type":"join","token":"t","room":"r"}`, ""},
		{"publisher offer", `{"type":"offer","target":"publisher","sdp":"v=0"}`, ""},
		{"subscriber answer", `{"type":"answer","target":"subscriber","sdp":"v=0"}`, ""},
		{"candidate publisher", `{"type":"candidate","target":"publisher","candidate":{"candidate":"c"}}`, ""},
		{"candidate subscriber end-of-candidates", `{"type":"candidate","target":"subscriber","candidate":{"candidate":""}}`, ""},
		{"subscription", `{"type":"subscription","track_id":"TR_1"}`, ""},
		{"subscription max layer", `{"type":"subscription","track_id":"TR_1","max_layer":"f","paused":true}`, ""},
		{"leave", `{"type":"leave"}`, ""},
		{"ping", `{"type":"ping"}`, ""},
		{"pong", `{"type":"pong"}`, ""},
		{"unknown fields ignored", `{"type":"ping","debug":{"x":[1,2]}}`, ""},
		{"trailing whitespace", "{\"type\":\"ping\"}\r\n\t ", ""},

		// bad_request: malformed JSON.
		{"empty", ``, signal.CodeBadRequest},
		{"truncated", `{"type":"ping"`, signal.CodeBadRequest},
		{"not an object", `"ping"`, signal.CodeBadRequest},
		{"array", `[{"type":"ping"}]`, signal.CodeBadRequest},
		{"wrong field type", `{"type":"subscription","track_id":"t","paused":"yes"}`, signal.CodeBadRequest},
		{"trailing object", `{"type":"ping"}{"type":"ping"}`, signal.CodeBadRequest},
		{"trailing garbage", `{"type":"ping"} x`, signal.CodeBadRequest},
		{"trailing close bracket", `{"type":"ping"}]`, signal.CodeBadRequest},
		{"trailing close brace", `{"type":"ping"}}`, signal.CodeBadRequest},

		// bad_request: a field the type needs.
		{"no type", `{"token":"t"}`, signal.CodeBadRequest},
		{"null", `null`, signal.CodeBadRequest},
		{"join without token", `{"type":"join"}`, signal.CodeBadRequest},
		{"offer to subscriber", `{"type":"offer","target":"subscriber","sdp":"v=0"}`, signal.CodeBadRequest},
		{"offer without target", `{"type":"offer","sdp":"v=0"}`, signal.CodeBadRequest},
		{"offer without sdp", `{"type":"offer","target":"publisher"}`, signal.CodeBadRequest},
		{"answer to publisher", `{"type":"answer","target":"publisher","sdp":"v=0"}`, signal.CodeBadRequest},
		{"answer without sdp", `{"type":"answer","target":"subscriber"}`, signal.CodeBadRequest},
		{"candidate without target", `{"type":"candidate","candidate":{"candidate":"c"}}`, signal.CodeBadRequest},
		{"candidate bad target", `{"type":"candidate","target":"both","candidate":{"candidate":"c"}}`, signal.CodeBadRequest},
		{"candidate without candidate", `{"type":"candidate","target":"publisher"}`, signal.CodeBadRequest},
		{"subscription without track", `{"type":"subscription","max_layer":"q"}`, signal.CodeBadRequest},
		{"subscription bad layer", `{"type":"subscription","track_id":"t","max_layer":"x"}`, signal.CodeBadRequest},

		// unknown_type, including server-only types sent by a client.
		{"unknown", `{"type":"nope"}`, signal.CodeUnknownType},
		{"server type joined", `{"type":"joined"}`, signal.CodeUnknownType},
		{"server type error", `{"type":"error","code":"bad_request"}`, signal.CodeUnknownType},
		{"server type events", `{"type":"events","events":[{"type":"ping"}]}`, signal.CodeUnknownType},
		{"type is case sensitive", `{"type":"PING"}`, signal.CodeUnknownType},

		// message_too_large, checked before parsing.
		{"over limit", `{"type":"join","token":"` + strings.Repeat("a", limit) + `"}`, signal.CodeTooLarge},
		{"over limit garbage", strings.Repeat("{", limit+1), signal.CodeTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := signal.Decode([]byte(tc.in), limit)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Decode(%q) = %v, want accepted", tc.in, err)
				}
				if m.Type == "" {
					t.Fatal("accepted message has no type")
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode(%q) accepted %+v, want %s", tc.in, m, tc.want)
			}
			if got := codeOf(t, err); got != tc.want {
				t.Fatalf("Decode(%q) code %s, want %s (%v)", tc.in, got, tc.want, err)
			}
		})
	}
}

// TestDecodeLimitBoundary: exactly the limit is fine, one byte more is not,
// and a zero limit means none.
func TestDecodeLimitBoundary(t *testing.T) {
	base := `{"type":"join","token":""}`
	exact := `{"type":"join","token":"` + strings.Repeat("a", 1024-len(base)) + `"}`
	if len(exact) != 1024 {
		t.Fatalf("setup: %d bytes", len(exact))
	}
	if _, err := signal.Decode([]byte(exact), 1024); err != nil {
		t.Fatalf("a message of exactly the limit was rejected: %v", err)
	}
	if _, err := signal.Decode([]byte(exact), 1023); codeOf(t, err) != signal.CodeTooLarge {
		t.Fatalf("one byte over: %v", err)
	}
	if _, err := signal.Decode([]byte(exact), 0); err != nil {
		t.Fatalf("limit 0 should mean no limit: %v", err)
	}
}

// TestUnknownTypeReasonIsBounded: the reason echoes the type, so it must
// not echo a peer's megabyte back into logs and sockets.
func TestUnknownTypeReasonIsBounded(t *testing.T) {
	_, err := signal.Decode([]byte(`{"type":"`+strings.Repeat("z", 500)+`"}`), 0)
	if codeOf(t, err) != signal.CodeUnknownType {
		t.Fatal(err)
	}
	if len(err.Error()) > 200 {
		t.Fatalf("reason of %d bytes echoes the whole type", len(err.Error()))
	}
}

// TestErrorMessage: a protocol error keeps its code; anything else is
// internal_error, so every error a client sees has a code.
func TestErrorMessage(t *testing.T) {
	m := signal.ErrorMessage(signal.Errorf(signal.CodeRoomFull, "room %q is full", "r"))
	if m.Type != signal.TypeError || m.Code != signal.CodeRoomFull || m.Reason != `room "r" is full` {
		t.Fatalf("got %+v", m)
	}
	wrapped := errors.Join(errors.New("context"), signal.Errorf(signal.CodeForbidden, "no"))
	if m := signal.ErrorMessage(wrapped); m.Code != signal.CodeForbidden {
		t.Fatalf("a wrapped protocol error lost its code: %+v", m)
	}
	if m := signal.ErrorMessage(errors.New("boom")); m.Code != signal.CodeInternal || m.Reason != "boom" {
		t.Fatalf("got %+v", m)
	}
}

func TestLayerNames(t *testing.T) {
	for i, name := range []string{signal.LayerQ, signal.LayerH, signal.LayerF} {
		if signal.LayerIndex(name) != i || signal.LayerName(i) != name {
			t.Fatalf("layer %d/%s does not round-trip", i, name)
		}
	}
	for _, bad := range []string{"", "Q", "x", "qq"} {
		if signal.LayerIndex(bad) != -1 {
			t.Fatalf("LayerIndex(%q) should be -1", bad)
		}
	}
	for _, bad := range []int{-1, 3, 100} {
		if signal.LayerName(bad) != "" {
			t.Fatalf("LayerName(%d) should be empty", bad)
		}
	}
}
