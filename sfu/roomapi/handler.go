package roomapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/surgertc/surge/sfu/auth"
)

// Prefix is where the API is mounted on the public listener.
const Prefix = "/api/v1/"

// maxBody bounds a request body; the only body is {"muted":true}.
const maxBody = 4 << 10

// Verifier checks a bearer token (package auth's Verifier.Verify).
type Verifier func(token string) (auth.Grant, error)

// Handler serves svc under Prefix for callers whose token carries the admin
// grant; a grant for one room reaches only that room.
type Handler struct {
	svc    RoomService
	verify Verifier
	log    *slog.Logger
	mux    *http.ServeMux
}

// NewHandler builds the HTTP front of svc.
func NewHandler(svc RoomService, verify Verifier, log *slog.Logger) *Handler {
	h := &Handler{svc: svc, verify: verify, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /api/v1/rooms", h.listRooms)
	h.mux.HandleFunc("DELETE /api/v1/rooms/{room}", h.closeRoom)
	h.mux.HandleFunc("GET /api/v1/rooms/{room}/participants", h.listParticipants)
	h.mux.HandleFunc("DELETE /api/v1/rooms/{room}/participants/{identity}", h.removeParticipant)
	h.mux.HandleFunc("POST /api/v1/rooms/{room}/participants/{identity}/tracks/{track}/mute", h.muteTrack)
	h.mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, Errorf(CodeBadRequest, "no API endpoint %s %s; see docs/api.md", r.Method, r.URL.Path))
	})
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r.WithContext(WithCall(r.Context(), callOf(r))))
}

// authorize returns the caller's grant if it may act on room ("" = the
// whole node, as listing rooms does), else writes the error.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, room string) (auth.Grant, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		writeError(w, Errorf(CodeUnauthorized, "send the admin token as Authorization: Bearer <token> (surge token --admin)"))
		return auth.Grant{}, false
	}
	g, err := h.verify(strings.TrimSpace(tok))
	if err != nil {
		writeError(w, Errorf(CodeUnauthorized, "invalid token: %v", err))
		return auth.Grant{}, false
	}
	if !g.Admin {
		writeError(w, Errorf(CodeForbidden, "the token has no admin grant; mint one with surge token --admin"))
		return g, false
	}
	if g.Room != "" && room != "" && g.Room != room {
		writeError(w, Errorf(CodeForbidden, "the token's admin grant is for room %q only", g.Room))
		return g, false
	}
	return g, true
}

func (h *Handler) listRooms(w http.ResponseWriter, r *http.Request) {
	g, ok := h.authorize(w, r, "")
	if !ok {
		return
	}
	rooms, err := h.svc.ListRooms(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if g.Room != "" { // a room-scoped grant sees its own room only
		kept := rooms[:0]
		for _, x := range rooms {
			if x.Name == g.Room {
				kept = append(kept, x)
			}
		}
		rooms = kept
	}
	if rooms == nil {
		rooms = []Room{}
	}
	writeJSON(w, http.StatusOK, roomsResponse{Rooms: rooms})
}

func (h *Handler) listParticipants(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if _, ok := h.authorize(w, r, room); !ok {
		return
	}
	ps, err := h.svc.ListParticipants(r.Context(), room)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if ps == nil {
		ps = []Participant{}
	}
	writeJSON(w, http.StatusOK, participantsResponse{Participants: ps})
}

func (h *Handler) removeParticipant(w http.ResponseWriter, r *http.Request) {
	room, identity := r.PathValue("room"), r.PathValue("identity")
	g, ok := h.authorize(w, r, room)
	if !ok {
		return
	}
	if err := h.svc.RemoveParticipant(r.Context(), room, identity); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("room API: participant removed", "room", room, "identity", identity, "by", g.Identity)
	writeJSON(w, http.StatusOK, struct{}{})
}

func (h *Handler) muteTrack(w http.ResponseWriter, r *http.Request) {
	room, identity, track := r.PathValue("room"), r.PathValue("identity"), r.PathValue("track")
	g, ok := h.authorize(w, r, room)
	if !ok {
		return
	}
	var req muteRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err == nil && len(body) > maxBody {
		err = errors.New("body too large")
	}
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil || req.Muted == nil {
		writeError(w, Errorf(CodeBadRequest, `want a JSON body {"muted": true|false}`))
		return
	}
	t, err := h.svc.MuteTrack(r.Context(), room, identity, track, *req.Muted)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("room API: track mute set", "room", room, "identity", identity, "track", track, "muted", t.Muted, "by", g.Identity)
	writeJSON(w, http.StatusOK, t)
}

func (h *Handler) closeRoom(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	g, ok := h.authorize(w, r, room)
	if !ok {
		return
	}
	if err := h.svc.CloseRoom(r.Context(), room); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("room API: room closed", "room", room, "by", g.Identity)
	writeJSON(w, http.StatusOK, struct{}{})
}

// fail writes err; anything that is not an *Error is a bug or an outage on
// our side, logged here because the caller only sees internal_error.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *Error
	if !errors.As(err, &ae) {
		h.log.Warn("room API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = Errorf(CodeInternal, "%v", err)
	}
	writeError(w, ae)
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status(), errorResponse{Error: e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
