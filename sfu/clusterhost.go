package sfu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/cluster"
	"github.com/surgertc/surge/sfu/signal"
)

// clusterMember is what the server needs of its membership in a cluster
// (*cluster.Node). It is nil on a single node, and then nothing in this
// file runs: no Redis, no placement, joins exactly as before.
type clusterMember interface {
	Place(ctx context.Context, room, region string) (cluster.Placement, error)
	Release(room string)
	Drain()
	Close() error
	ID() string
	View(ctx context.Context) cluster.View
	Registry() *cluster.Registry
}

// clusterHost is the server as its cluster node sees it.
type clusterHost struct{ s *Server }

// startCluster joins the cluster when redis.addr is set. It runs after the
// listeners are bound (the node advertises their URLs) and before they
// serve, so every handler sees s.cluster set.
func (s *Server) startCluster() error {
	if !s.cfg.Redis.Enabled() {
		return nil
	}
	s.clusterMetrics = metrics.NewCluster(s.reg)
	n, err := cluster.New(cluster.Config{Redis: s.cfg.Redis, Node: s.cfg.Node}, clusterHost{s},
		cluster.WithLogger(s.log), cluster.WithMetrics(s.clusterMetrics), cluster.WithURLs(s.URL(), s.AdminURL()))
	if err != nil {
		return err
	}
	n.Start()
	s.cluster = n
	return nil
}

// ClusterRegistry reads the cluster this node belongs to: which node holds
// a room, the rooms of every node. nil on a single node.
func (s *Server) ClusterRegistry() *cluster.Registry {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.Registry()
}

// NodeID is the node's id in its cluster; "" on a single node.
func (s *Server) NodeID() string {
	if s.cluster == nil {
		return ""
	}
	return s.cluster.ID()
}

// redirectError ends a join by sending the client to the node holding the
// room (see fail).
type redirectError struct {
	url, room, node string
}

func (e *redirectError) Error() string { return "room " + e.room + " is on node " + e.node }

// failMessage is what a failed join or session tells the client.
func failMessage(err error) signal.Message {
	var re *redirectError
	if errors.As(err, &re) {
		return signal.Message{Type: signal.TypeRedirect, URL: re.url, Room: re.room, Reason: "room " + re.room + " is on node " + re.node + "; join there"}
	}
	return signal.ErrorMessage(err)
}

// placeJoin asks the cluster where the room of a join lives; a room on
// another node ends the join with a redirect.
func (s *Server) placeJoin(sess *session, grant auth.Grant) error {
	if s.cluster == nil {
		return nil
	}
	region := grant.Region
	if region == "" {
		region = sess.region
	}
	p, err := s.cluster.Place(s.ctx, grant.Room, region)
	switch {
	case errors.Is(err, cluster.ErrDraining):
		s.m.Joins(metrics.JoinDraining).Inc()
		return signal.Errorf(signal.CodeDraining, "server is draining; join another node")
	case err != nil:
		s.m.Joins(metrics.JoinError).Inc()
		return fmt.Errorf("placing room %q: %w", grant.Room, err)
	case p.Local:
		return nil
	}
	s.m.Joins(metrics.JoinRedirect).Inc()
	s.clusterMetrics.Redirects(metrics.RedirectPlacement).Inc()
	sess.log.Debug("join redirected", "room", grant.Room, "node", p.Node, "url", p.URL)
	return &redirectError{url: p.URL, room: grant.Room, node: p.Node}
}

// Stats is the node's load for the registry.
func (h clusterHost) Stats() cluster.HostStats {
	s := h.s
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	st := cluster.HostStats{Rooms: make([]cluster.RoomStat, 0, len(rooms))}
	for _, r := range rooms {
		r.mu.Lock()
		n, closed := len(r.parts), r.closed
		r.mu.Unlock()
		if !closed {
			st.Rooms = append(st.Rooms, cluster.RoomStat{Name: r.name, Participants: n})
		}
	}
	st.PacketsSent = counterValue(s.m.PacketsOut(metrics.KindAudio)) + counterValue(s.m.PacketsOut(metrics.KindVideo))
	return st
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if c.Write(&m) != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// Evict closes a room another node won and sends its clients there.
func (h clusterHost) Evict(name, url string) { h.s.evictRoom(name, url) }

func (s *Server) evictRoom(name, url string) {
	s.mu.Lock()
	r := s.rooms[name]
	if r != nil {
		delete(s.rooms, name)
		s.m.Rooms().Dec()
	}
	s.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	r.closed = true
	if r.idle != nil {
		r.idle.Stop()
	}
	members := r.members()
	r.mu.Unlock()
	msg := signal.Message{Type: signal.TypeRedirect, URL: url, Room: name, Reason: "the room moved to another node; join there"}
	for _, p := range members {
		p.sess.sendAndClose(msg)
		s.clusterMetrics.Redirects(metrics.RedirectMoved).Inc()
	}
	r.log.Info("room moved to another node; clients redirected", "url", url, "participants", len(members))
}

// clusterDebug is the admin /debug/cluster document.
type clusterDebug struct {
	// Mode is "single" (no redis.addr) or "cluster".
	Mode string `json:"mode"`
	*cluster.View
	// Local is what this node has open, from its own memory.
	Local []cluster.RoomStat `json:"local"`
}

func (s *Server) handleDebugCluster(w http.ResponseWriter, r *http.Request) {
	d := clusterDebug{Mode: "single", Local: clusterHost{s}.Stats().Rooms}
	slices.SortFunc(d.Local, func(a, b cluster.RoomStat) int { return strings.Compare(a.Name, b.Name) })
	if s.cluster != nil {
		v := s.cluster.View(r.Context())
		d.Mode, d.View = "cluster", &v
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(d)
}
