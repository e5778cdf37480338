package sfu

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/sfu/signal"
)

// RoomSnapshot is a point-in-time view of a room for operators (admin
// /debug/rooms) and tests.
type RoomSnapshot struct {
	Name         string                `json:"name"`
	Participants []ParticipantSnapshot `json:"participants"`
}

// ParticipantSnapshot is one participant's published and subscribed tracks.
type ParticipantSnapshot struct {
	ID          string `json:"id"`
	Identity    string `json:"identity"`
	EstimateBps int64  `json:"estimate_bps,omitempty"` // subscriber's bandwidth estimate
	// SendPath is how packets reach the subscriber: "fast" (sealed and
	// batched by the SFU itself) or "pion" (Pion's writer: ICE-TCP, or
	// before DTLS is up). Empty while its subscribe connection is not up.
	SendPath string `json:"send_path,omitempty"`
	// RTCPRead counts the subscriber's RTCP packets the SFU read off the
	// socket itself (fast path) rather than through Pion.
	RTCPRead uint64 `json:"rtcp_read,omitempty"`
	// RTCPSent counts the SRTCP packets (sender reports) the SFU sealed
	// and sent itself rather than through Pion.
	RTCPSent   uint64                 `json:"rtcp_sent,omitempty"`
	Published  []TrackSnapshot        `json:"published,omitempty"`
	Subscribed []SubscriptionSnapshot `json:"subscribed,omitempty"`
}

// TrackSnapshot is a published track and the upstream layers it has.
type TrackSnapshot struct {
	ID     string          `json:"id"`
	Kind   string          `json:"kind"`
	Codec  string          `json:"codec"`
	Layers []LayerSnapshot `json:"layers"`
}

// LayerSnapshot is one upstream layer ("" RID for a plain track).
type LayerSnapshot struct {
	RID        string `json:"rid"`
	BitrateBps int64  `json:"bitrate_bps"`
	Bytes      uint64 `json:"bytes"`
	Frames     uint64 `json:"frames"`
	Live       bool   `json:"live"`
	// LastKeyframeMsAgo is how long ago the layer's last keyframe started
	// (-1: none yet); a layer that never has one cannot be switched to.
	LastKeyframeMsAgo int64 `json:"last_keyframe_ms_ago"`
}

// SubscriptionSnapshot is one DownTrack.
type SubscriptionSnapshot struct {
	TrackID  string `json:"track_id"`
	Kind     string `json:"kind"`
	Layer    string `json:"layer"` // forwarded now: q, h, f, or "" when paused / not started
	Target   string `json:"target"`
	MaxLayer string `json:"max_layer"`
	Visible  bool   `json:"visible"`
}

// Snapshot returns every room, sorted by name.
func (s *Server) Snapshot() []RoomSnapshot {
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	now := time.Now()
	out := make([]RoomSnapshot, 0, len(rooms))
	for _, r := range rooms {
		r.mu.Lock()
		members := r.members()
		r.mu.Unlock()
		rs := RoomSnapshot{Name: r.name}
		for _, p := range members {
			rs.Participants = append(rs.Participants, p.snapshot(now))
		}
		slices.SortFunc(rs.Participants, func(a, b ParticipantSnapshot) int { return strings.Compare(a.Identity, b.Identity) })
		out = append(out, rs)
	}
	slices.SortFunc(out, func(a, b RoomSnapshot) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (p *Participant) snapshot(now time.Time) ParticipantSnapshot {
	ps := ParticipantSnapshot{ID: p.id, Identity: p.grant.Identity}
	p.mu.Lock()
	rs := make([]*Receiver, 0, len(p.receivers))
	for _, r := range p.receivers {
		rs = append(rs, r)
	}
	ds := make([]*DownTrack, 0, len(p.downs))
	for _, d := range p.downs {
		ds = append(ds, d)
	}
	p.mu.Unlock()
	if p.ctrl != nil {
		ps.EstimateBps = p.ctrl.lastEstimate.Load()
	}
	p.mu.Lock()
	subPC := p.subPC
	p.mu.Unlock()
	switch {
	case p.dl != nil && p.dl.route.Load() != nil:
		ps.SendPath = "fast"
		ps.RTCPRead = p.dl.rtcpRead.Load()
		ps.RTCPSent = p.dl.rtcpSent.Load()
	case subPC != nil && subPC.ConnectionState() == webrtc.PeerConnectionStateConnected:
		ps.SendPath = "pion"
	}
	for _, r := range rs {
		ps.Published = append(ps.Published, r.snapshot(now))
	}
	for _, d := range ds {
		d.mu.Lock()
		target := d.fwd.TargetLayer()
		d.mu.Unlock()
		ps.Subscribed = append(ps.Subscribed, SubscriptionSnapshot{
			TrackID:  d.id,
			Kind:     d.kind.String(),
			Layer:    signal.LayerName(int(d.curLayer.Load())),
			Target:   signal.LayerName(target),
			MaxLayer: signal.LayerName(int(d.maxLayer.Load())),
			Visible:  d.visible.Load(),
		})
	}
	slices.SortFunc(ps.Published, func(a, b TrackSnapshot) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(ps.Subscribed, func(a, b SubscriptionSnapshot) int { return strings.Compare(a.TrackID, b.TrackID) })
	return ps
}

func (r *Receiver) snapshot(now time.Time) TrackSnapshot {
	rates := r.bitrates(now)
	ts := TrackSnapshot{ID: r.id, Kind: r.kind.String(), Codec: r.codec.MimeType}
	r.mu.Lock()
	layers := r.layers
	r.mu.Unlock()
	for i, ul := range layers {
		if ul == nil {
			continue
		}
		ts.Layers = append(ts.Layers, LayerSnapshot{
			RID:               ul.track.RID(),
			BitrateBps:        rates[i],
			Bytes:             ul.bytes.Load(),
			Frames:            ul.frames.Load(),
			Live:              rates[i] > 0,
			LastKeyframeMsAgo: msAgo(now, ul.lastKeyframe.Load()),
		})
	}
	return ts
}

// handleDebugRooms serves Snapshot as JSON on the admin listener.
func (s *Server) handleDebugRooms(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.Snapshot())
}

// msAgo turns a unix-nanos timestamp into milliseconds before now, -1 for never.
func msAgo(now time.Time, unixNano int64) int64 {
	if unixNano == 0 {
		return -1
	}
	return now.Sub(time.Unix(0, unixNano)).Milliseconds()
}
