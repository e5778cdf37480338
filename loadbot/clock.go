package loadbot

import (
	"fmt"
	"time"

	"github.com/surgertc/surge/loadbot/report"
)

// One-way latency is arrival time minus the publisher's abs-capture-time,
// so it needs the publisher's and the subscriber's clocks to agree. Bots of
// one process share a clock; processes on one host share the kernel's; on
// different hosts the offset between clocks must be measured, and where it
// cannot be measured well enough latency is left out with the reason, never
// reported wrong.

// RoomClock is how this process's subscribers in a room time the packets
// of that room's publishers.
type RoomClock struct {
	Source string // report.ClockSameProcess, ClockSameHost, ClockMeasured or ClockAbsent
	// Shift is added to every capture time: the publisher's clock runs
	// Shift behind ours (negative: ahead).
	Shift time.Duration
	Note  string
}

func (c RoomClock) report() report.RoomClock { return report.RoomClock{Source: c.Source, Note: c.Note} }

// roomClock is the room's clock; same process unless a coordinator said
// otherwise.
func (e *env) roomClock(room string) RoomClock {
	if c, ok := e.clocks[room]; ok {
		return c
	}
	return RoomClock{Source: report.ClockSameProcess}
}

// captureShift is what subscribers in room add to capture times, and
// whether latency can be measured there at all.
func (e *env) captureShift(room string) (time.Duration, bool) {
	c := e.roomClock(room)
	return c.Shift, c.Source != report.ClockAbsent
}

// ClockSample is one exchange with a reference clock (Redis TIME): local
// send and receive times around the reference's reading.
type ClockSample struct {
	Sent, Reference, Received time.Time
}

// EstimateOffset returns reference − local clock from the sample with the
// shortest round trip, and its uncertainty: half that round trip (the
// reading was taken somewhere inside it).
func EstimateOffset(samples []ClockSample) (offset, uncertainty time.Duration, ok bool) {
	best := time.Duration(-1)
	for _, s := range samples {
		rtt := s.Received.Sub(s.Sent)
		if rtt < 0 || (best >= 0 && rtt >= best) {
			continue
		}
		best = rtt
		mid := s.Sent.Add(rtt / 2)
		offset = s.Reference.Sub(mid)
		// The reference reads in microseconds.
		uncertainty = rtt/2 + time.Microsecond
	}
	return offset, uncertainty, best >= 0
}

// AgentClock is an agent's clock as measured against the reference.
type AgentClock struct {
	ID          string        `json:"id"`
	Host        string        `json:"host"`
	HostID      string        `json:"host_id"` // equal ids share a kernel clock
	Offset      time.Duration `json:"offset_ns"`
	Uncertainty time.Duration `json:"uncertainty_ns"`
}

// PlanClocks decides, for agent self of agents and each room of the
// scenario, how self's subscribers time that room's publishers, which run
// on the room's home agent. maxUncertainty bounds how inexact a measured
// offset may be and still be used (0: never use a measured offset).
func PlanClocks(agents []AgentClock, self int, rooms int, sh Share, roomPrefix string, maxUncertainty time.Duration) map[string]RoomClock {
	out := make(map[string]RoomClock, rooms)
	me := agents[self]
	for room := 0; room < rooms; room++ {
		home := agents[sh.HomeAgent(room)]
		var c RoomClock
		switch {
		case home.ID == me.ID:
			c = RoomClock{Source: report.ClockSameProcess}
		case home.HostID != "" && home.HostID == me.HostID:
			c = RoomClock{Source: report.ClockSameHost, Note: fmt.Sprintf("publishers on %s, subscribers on %s: one host's clock", home.ID, me.ID)}
		default:
			unc := home.Uncertainty + me.Uncertainty
			if maxUncertainty > 0 && unc <= maxUncertainty {
				// capture(ours) = capture(home) + (offset(home) − offset(ours))
				c = RoomClock{Source: report.ClockMeasured, Shift: home.Offset - me.Offset,
					Note: fmt.Sprintf("publishers on %s, subscribers on %s: clock offset %s measured to ±%s", home.Host, me.Host, (me.Offset - home.Offset).Round(time.Microsecond), unc.Round(time.Microsecond))}
			} else {
				c = RoomClock{Source: report.ClockAbsent,
					Note: fmt.Sprintf("publishers on %s, subscribers on %s share no clock; the measured offset is only good to ±%s, over the %s allowed (--max-clock-uncertainty)", home.Host, me.Host, unc.Round(time.Microsecond), maxUncertainty)}
			}
		}
		out[roomName(roomPrefix, room)] = c
	}
	return out
}
