package cluster

import (
	"cmp"
	"context"
	"slices"
)

// NodeView is a live node as the registry shows it: its entry, its live
// claims and the names of the rooms it holds.
type NodeView struct {
	NodeInfo
	Claims int      `json:"claims"`
	Rooms  []string `json:"rooms"`
}

// Registry reads the cluster's state without being a member: the `surge
// cluster` command, the admin /debug/cluster page and anything that must
// route a request to the node holding a room or aggregate over all nodes
// (a room-service API) use it.
type Registry struct {
	store *store
	own   bool // the client is ours to close
}

// NewRegistry connects to the cluster's Redis.
func NewRegistry(cfg RedisConfig) (*Registry, error) {
	if !cfg.Enabled() {
		return nil, ErrConfig
	}
	if err := (Config{Redis: cfg, Node: DefaultNodeConfig()}).Validate(); err != nil {
		return nil, err
	}
	rdb, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Registry{store: &store{rdb: rdb, prefix: cfg.KeyPrefix}, own: true}, nil
}

// Registry returns a reader that shares the node's Redis connection; it is
// valid until the node is closed.
func (n *Node) Registry() *Registry { return &Registry{store: n.store} }

// Nodes lists the live nodes, sorted by id, each with its rooms sorted.
func (r *Registry) Nodes(ctx context.Context) ([]NodeView, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	ms, err := r.store.members(ctx, true)
	if err != nil {
		return nil, err
	}
	out := make([]NodeView, 0, len(ms))
	for _, m := range ms {
		rooms := m.Rooms
		if rooms == nil {
			rooms = []string{}
		}
		slices.Sort(rooms)
		out = append(out, NodeView{NodeInfo: m.Info, Claims: m.Claims, Rooms: rooms})
	}
	slices.SortFunc(out, func(a, b NodeView) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Owner returns the live node that holds room. ok is false when the room is
// not claimed, or its claim names a node that is no longer live (the room
// is re-placed at its next join).
func (r *Registry) Owner(ctx context.Context, room string) (info NodeInfo, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	raw, taken, err := r.store.getClaim(ctx, room)
	if err != nil || !taken {
		return NodeInfo{}, false, err
	}
	c, err := ParseClaim(raw)
	if err != nil {
		return NodeInfo{}, false, err
	}
	return r.store.node(ctx, c.Node)
}

// Rooms lists the rooms a live node holds; nil when the node is not live.
func (r *Registry) Rooms(ctx context.Context, nodeID string) ([]string, error) {
	nodes, err := r.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.ID == nodeID {
			return n.Rooms, nil
		}
	}
	return nil, nil
}

// Close closes a registry made by NewRegistry; one from Node.Registry is
// closed with its node.
func (r *Registry) Close() error {
	if !r.own {
		return nil
	}
	return r.store.rdb.Close()
}

// View is a node's picture of the cluster, for the admin /debug/cluster.
type View struct {
	Self    string     `json:"self"`
	RedisUp bool       `json:"redis_up"`
	Held    []string   `json:"held"`
	Nodes   []NodeView `json:"nodes"`
	// Error is why Nodes is empty: Redis could not be read.
	Error string `json:"error,omitempty"`
}

// View reads the registry and adds what this node knows of itself.
func (n *Node) View(ctx context.Context) View {
	v := View{Self: n.info.ID, RedisUp: n.up.Load(), Nodes: []NodeView{}}
	n.mu.Lock()
	for room := range n.held {
		v.Held = append(v.Held, room)
	}
	n.mu.Unlock()
	slices.Sort(v.Held)
	nodes, err := n.Registry().Nodes(ctx)
	if err != nil {
		v.Error = err.Error()
		return v
	}
	v.Nodes = nodes
	return v
}
