package sfu

import "errors"

// Sentinel errors of package sfu.
var (
	ErrConfig        = errors.New("invalid configuration")
	ErrDevKeyExposed = errors.New("refusing to serve a non-loopback address with the built-in dev key")
	ErrClosed        = errors.New("closed")
)

// errRoomClosed is returned when a join races a room's idle close; the
// server retries with a fresh room.
var errRoomClosed = errors.New("room closed")
