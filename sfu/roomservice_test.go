package sfu

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/roomapi"
	"github.com/surgertc/surge/sfu/signal"
)

func apiClient(t *testing.T, s *Server, g auth.Grant) *roomapi.Client {
	t.Helper()
	if g.Identity == "" {
		g.Identity = "ops"
	}
	return &roomapi.Client{BaseURL: s.URL(), Token: mintToken(t, auth.DevAPIKey, auth.DevAPISecret, g, time.Hour, time.Now())}
}

// TestRoomAPI drives every room API call over HTTP against live clients: an
// operator sees the rooms and who is in them, mutes a track (subscribers
// stop getting it, and get it back), removes a participant and closes the
// room, and every refusal comes with its documented code.
func TestRoomAPI(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	admin := apiClient(t, s, auth.Grant{Admin: true})
	const room = "api"
	alice := join(t, s, room, "alice")
	bob := join(t, s, room, "bob")
	carol := join(t, s, room, "carol")
	audio, video, _ := alice.publish()
	ap := startPump(audio, 20*time.Millisecond, 80, 960)
	defer ap.halt()
	vp := startPump(video, 10*time.Millisecond, 600, 3000)
	defer vp.halt()
	eventually(t, 15*time.Second, "bob subscribed to both tracks", func() bool { return bob.trackCount() == 2 })

	rooms, err := admin.ListRooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms) != 1 || rooms[0].Name != room || rooms[0].Participants != 3 || rooms[0].Tracks != 2 || rooms[0].CreatedAt.IsZero() {
		t.Fatalf("ListRooms = %+v, want room %q with 3 participants and 2 tracks", rooms, room)
	}
	ps, err := admin.ListParticipants(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 || ps[0].Identity != "alice" || ps[1].Identity != "bob" || ps[0].ID != alice.id || len(ps[0].Tracks) != 2 || len(ps[1].Tracks) != 0 {
		t.Fatalf("ListParticipants = %+v, want alice (2 tracks), bob, carol", ps)
	}
	videoID := trackIDOf(bob, "video")

	// Mute: nobody gets the video any more, everyone is told; unmute brings it back.
	tr, err := admin.MuteTrack(ctx, room, "alice", videoID, true)
	if err != nil || !tr.Muted || tr.ID != videoID || tr.Kind != "video" {
		t.Fatalf("MuteTrack = %+v, %v", tr, err)
	}
	for _, c := range []*testClient{alice, bob, carol} {
		ev := c.waitFor(signal.TypeTrackMuted, 5*time.Second)
		if ev.Track == nil || ev.Track.ID != videoID || !ev.Track.Muted {
			t.Fatalf("track_muted event %+v", ev)
		}
	}
	time.Sleep(300 * time.Millisecond) // packets already on the wire
	vt := bob.track(videoID)
	n := vt.count()
	time.Sleep(500 * time.Millisecond)
	if got := vt.count(); got != n {
		t.Fatalf("bob received %d video packets while the track was muted", got-n)
	}
	at := bob.track(trackIDOf(bob, "audio"))
	na := at.count()
	eventually(t, 5*time.Second, "audio to keep flowing while video is muted", func() bool { return at.count() > na+10 })
	if ps, _ := admin.ListParticipants(ctx, room); !trackMuted(ps, videoID) {
		t.Fatalf("ListParticipants does not show the muted track: %+v", ps)
	}
	if tr, err = admin.MuteTrack(ctx, room, "alice", videoID, false); err != nil || tr.Muted {
		t.Fatalf("unmute = %+v, %v", tr, err)
	}
	eventually(t, 5*time.Second, "video to flow again after unmute", func() bool { return vt.count() > n+20 })

	// Refusals, each with its code.
	for _, tc := range []struct {
		name string
		err  error
		want *roomapi.Error
	}{
		{"unknown room", admin.CloseRoom(ctx, "nope"), roomapi.ErrRoomNotFound},
		{"unknown participant", admin.RemoveParticipant(ctx, room, "mallory"), roomapi.ErrParticipantNotFound},
		{"unknown track", second(admin.MuteTrack(ctx, room, "alice", "TR_nope", true)), roomapi.ErrTrackNotFound},
		{"no admin grant", second(apiClient(t, s, auth.Grant{Room: room, CanPublish: true}).ListRooms(ctx)), roomapi.ErrForbidden},
		{"admin of another room", apiClient(t, s, auth.Grant{Room: "other", Admin: true}).CloseRoom(ctx, room), roomapi.ErrForbidden},
		{"bad signature", second((&roomapi.Client{BaseURL: s.URL(), Token: mintToken(t, auth.DevAPIKey, "wrong", auth.Grant{Identity: "x", Admin: true}, time.Hour, time.Now())}).ListRooms(ctx)), roomapi.ErrUnauthorized},
		{"no token", second((&roomapi.Client{BaseURL: s.URL()}).ListRooms(ctx)), roomapi.ErrUnauthorized},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: got %v, want code %s", tc.name, tc.err, tc.want.Code)
		}
	}
	// A room-scoped admin grant lists only its room.
	scoped := apiClient(t, s, auth.Grant{Room: "elsewhere", Admin: true})
	if rs, err := scoped.ListRooms(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("scoped ListRooms = %+v, %v; want no rooms", rs, err)
	}
	// The HTTP shape outsiders code against: status and typed JSON error.
	base, _ := roomapi.HTTPBase(s.URL())
	status, ctype, _ := rawAPI(t, http.DefaultClient, http.MethodGet, base+"/api/v1/rooms/nope/participants", admin.Token)
	if status != http.StatusNotFound || ctype != "application/json" {
		t.Fatalf("unknown room: HTTP %d %s, want 404 application/json", status, ctype)
	}
	if status, _, e := rawAPI(t, http.DefaultClient, http.MethodPut, base+"/api/v1/rooms", admin.Token); status != http.StatusBadRequest || e.Code != roomapi.CodeBadRequest {
		t.Fatalf("PUT /api/v1/rooms: HTTP %d %+v, want 400 bad_request", status, e)
	}

	// Remove: bob is told why and disconnected; the others see him leave.
	removeAndWait(t, admin, room, bob, "bob")
	if ev := alice.waitFor(signal.TypeParticipantLeft, 5*time.Second); ev.ParticipantID != bob.id {
		t.Fatalf("alice saw %+v leave, want bob", ev)
	}
	if ps, _ := admin.ListParticipants(ctx, room); len(ps) != 2 {
		t.Fatalf("after remove: %+v, want alice and carol", ps)
	}

	// Close: everyone left is told and disconnected; the room is gone.
	if err := admin.CloseRoom(ctx, room); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*testClient{alice, carol} {
		if ev := c.waitFor(signal.TypeLeave, 5*time.Second); ev.Code != signal.CodeRoomClosed {
			t.Fatalf("leave %+v, want code room_closed", ev)
		}
		c.waitClosed(5 * time.Second)
	}
	if rs, _ := admin.ListRooms(ctx); len(rs) != 0 {
		t.Fatalf("after close: rooms %+v", rs)
	}
	eventually(t, 5*time.Second, "participants gauge back to 0", func() bool { return gauge(t, s, "surge_participants") == 0 })
	if g := gauge(t, s, "surge_rooms"); g != 0 {
		t.Fatalf("surge_rooms = %v after close", g)
	}
	// The name is free again: a valid token opens a fresh room.
	join(t, s, room, "dave")
	if rs, _ := admin.ListRooms(ctx); len(rs) != 1 || rs[0].Participants != 1 {
		t.Fatalf("rejoin after close: %+v", rs)
	}
}

// TestAdminTokenCannotJoin: an admin token for every room names no room, so
// it must not create or enter the nameless room.
func TestAdminTokenCannotJoin(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	c.send(signal.Message{Type: signal.TypeJoin, Token: mintToken(t, auth.DevAPIKey, auth.DevAPISecret, auth.Grant{Identity: "ops", Admin: true, CanPublish: true, CanSubscribe: true}, time.Hour, time.Now())})
	c.expectError(signal.CodeForbidden)
}

func second[T any](_ T, err error) error { return err }

// removeAndWait removes identity (client c) from room through the API and
// waits until c is told it was removed and its socket closed.
func removeAndWait(t *testing.T, admin *roomapi.Client, room string, c *testClient, identity string) {
	t.Helper()
	if err := admin.RemoveParticipant(context.Background(), room, identity); err != nil {
		t.Fatal(err)
	}
	if ev := c.waitFor(signal.TypeLeave, 5*time.Second); ev.Code != signal.CodeRemoved {
		t.Fatalf("%s got leave %+v, want code removed", identity, ev)
	}
	c.waitClosed(5 * time.Second)
}

// rawAPI sends one room API request by hand, for the HTTP shape outsiders
// code against: status, Content-Type and the typed error body.
func rawAPI(t *testing.T, hc *http.Client, method, url, token string) (status int, contentType string, e roomapi.Error) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Error roomapi.Error }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body.Error
}

func trackMuted(ps []roomapi.Participant, id string) bool {
	for _, p := range ps {
		for _, t := range p.Tracks {
			if t.ID == id {
				return t.Muted
			}
		}
	}
	return false
}
