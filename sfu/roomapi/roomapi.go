// Package roomapi is Surge's room service API: the operations an operator's
// backend runs on live rooms (list rooms, list participants, remove a
// participant, mute a published track, close a room), their JSON types, the
// HTTP handler that serves them on the public listener and a client for it.
//
// The handler talks to a RoomService, not to the SFU's rooms: package sfu
// provides the implementation for the rooms of its own node, and a cluster
// can put one in front that routes each call to the node owning the room
// (the Client here is itself a RoomService, so "ask that node" is a Client
// pointed at it). docs/api.md is the contract for outside callers.
package roomapi

import (
	"context"
	"time"
)

// RoomService is what the API does. Every method may return an *Error; any
// other error reaches the caller as internal_error.
type RoomService interface {
	// ListRooms returns the open rooms, sorted by name.
	ListRooms(ctx context.Context) ([]Room, error)
	// ListParticipants returns a room's participants, sorted by identity.
	ListParticipants(ctx context.Context, room string) ([]Participant, error)
	// RemoveParticipant disconnects identity from room; the client gets
	// leave with code "removed". Its token stays valid: revoke access by
	// not minting another one (tokens are short-lived).
	RemoveParticipant(ctx context.Context, room, identity string) error
	// MuteTrack stops (muted) or resumes forwarding one published track to
	// every subscriber and returns the track as it now is.
	MuteTrack(ctx context.Context, room, identity, trackID string, muted bool) (Track, error)
	// CloseRoom disconnects everyone in room (leave with code
	// "room_closed") and removes it.
	CloseRoom(ctx context.Context, room string) error
}

// Room is one open room.
type Room struct {
	Name         string    `json:"name"`
	Participants int       `json:"participants"`
	Tracks       int       `json:"tracks"`
	CreatedAt    time.Time `json:"created_at"`
	// Node names the node the room lives on; empty on a single node.
	Node string `json:"node,omitempty"`
	// Unreachable is set on a room of a node that did not answer the
	// listing: it comes from the cluster registry, which knows only the
	// room's name and node, so the counts and created_at are zero.
	Unreachable bool `json:"unreachable,omitempty"`
}

// Participant is one joined participant.
type Participant struct {
	ID           string    `json:"id"`
	Identity     string    `json:"identity"`
	JoinedAt     time.Time `json:"joined_at"`
	CanPublish   bool      `json:"can_publish"`
	CanSubscribe bool      `json:"can_subscribe"`
	Tracks       []Track   `json:"tracks"`
}

// Track is one published track.
type Track struct {
	ID     string   `json:"id"`
	Kind   string   `json:"kind"` // audio | video
	Codec  string   `json:"codec,omitempty"`
	Layers []string `json:"layers,omitempty"` // simulcast RIDs received
	Muted  bool     `json:"muted"`
}

// The response bodies; a list is wrapped in an object so fields can be
// added without breaking clients.
type (
	roomsResponse struct {
		Rooms []Room `json:"rooms"`
	}
	participantsResponse struct {
		Participants []Participant `json:"participants"`
	}
	muteRequest struct {
		Muted *bool `json:"muted"`
	}
	errorResponse struct {
		Error *Error `json:"error"`
	}
)
