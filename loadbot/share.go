package loadbot

import (
	"fmt"

	"github.com/surgertc/surge/loadbot/report"
)

// Ways a coordinated run deals its bots to agents.
const (
	// SplitRooms gives every room whole to one agent: publisher and
	// subscribers share a process, so latency always has one clock.
	SplitRooms = "rooms"
	// SplitBots keeps a room's publishers on its home agent and deals the
	// subscribers round-robin over all agents: rooms larger than one
	// process can hold, and latency across processes and hosts.
	SplitBots = "bots"
)

// Share is one agent's part of a scenario: agent Index of Of, dealt by
// Split. Of <= 1 means the whole scenario.
type Share struct {
	Index int    `json:"index"`
	Of    int    `json:"of"`
	Split string `json:"split"`
}

// Validate rejects a share no agent could run.
func (sh Share) Validate() error {
	if sh.Of <= 1 {
		return nil
	}
	if sh.Index < 0 || sh.Index >= sh.Of {
		return fmt.Errorf("%w: share %d of %d", ErrConfig, sh.Index, sh.Of)
	}
	if sh.Split != SplitRooms && sh.Split != SplitBots {
		return fmt.Errorf("%w: split must be %q or %q", ErrConfig, SplitRooms, SplitBots)
	}
	return nil
}

// HomeAgent is the agent that runs room's publishers.
func (sh Share) HomeAgent(room int) int {
	if sh.Of <= 1 {
		return 0
	}
	return room % sh.Of
}

// Owns reports whether this agent runs the index-th bot of role r in room.
// Every agent evaluates the same function over the same scenario, so the
// shares are disjoint and together cover every bot exactly once.
func (sh Share) Owns(room int, r role, index int) bool {
	if sh.Of <= 1 {
		return true
	}
	if sh.Split == SplitBots && r == roleSubscriber {
		// The first subscriber lands on the agent after the home one, so
		// even small rooms measure across processes.
		return (room+index+1)%sh.Of == sh.Index
	}
	return sh.HomeAgent(room) == sh.Index
}

// Bots is how many bots of load this share runs.
func (sh Share) Bots(load report.Load) int {
	n := 0
	for room := 0; room < load.Rooms; room++ {
		for i := 0; i < load.Publishers; i++ {
			if sh.Owns(room, rolePublisher, i) {
				n++
			}
		}
		for i := 0; i < load.Subscribers; i++ {
			if sh.Owns(room, roleSubscriber, i) {
				n++
			}
		}
	}
	return n
}
