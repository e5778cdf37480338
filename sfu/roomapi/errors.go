package roomapi

import (
	"fmt"
	"net/http"
)

// Code is a stable machine-readable error code; docs/api.md lists them.
type Code string

// Error codes and the HTTP status each is served with.
const (
	CodeUnauthorized        Code = "unauthorized"          // 401: no, malformed, expired or badly signed token
	CodeForbidden           Code = "forbidden"             // 403: the token has no admin grant, or not for this room
	CodeBadRequest          Code = "bad_request"           // 400: malformed body or parameter
	CodeRoomNotFound        Code = "room_not_found"        // 404
	CodeParticipantNotFound Code = "participant_not_found" // 404
	CodeTrackNotFound       Code = "track_not_found"       // 404
	CodeUnavailable         Code = "unavailable"           // 503: the node is shutting down, or the room's node cannot be reached
	CodeInternal            Code = "internal_error"        // 500
)

var statusOf = map[Code]int{
	CodeUnauthorized:        http.StatusUnauthorized,
	CodeForbidden:           http.StatusForbidden,
	CodeBadRequest:          http.StatusBadRequest,
	CodeRoomNotFound:        http.StatusNotFound,
	CodeParticipantNotFound: http.StatusNotFound,
	CodeTrackNotFound:       http.StatusNotFound,
	CodeUnavailable:         http.StatusServiceUnavailable,
	CodeInternal:            http.StatusInternalServerError,
}

// Error is an API error: its Code and Message are the response body.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is makes errors.Is(err, ErrRoomNotFound) true for any room_not_found.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Status is the HTTP status the error is served with.
func (e *Error) Status() int {
	if s, ok := statusOf[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Errorf builds an *Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinels for errors.Is; their messages are not what the API sends.
var (
	ErrUnauthorized        = &Error{Code: CodeUnauthorized}
	ErrForbidden           = &Error{Code: CodeForbidden}
	ErrRoomNotFound        = &Error{Code: CodeRoomNotFound}
	ErrParticipantNotFound = &Error{Code: CodeParticipantNotFound}
	ErrTrackNotFound       = &Error{Code: CodeTrackNotFound}
	ErrUnavailable         = &Error{Code: CodeUnavailable}
)
