package metrics

import "github.com/prometheus/client_golang/prometheus"

// Claim results for Cluster.Claims: what a placement decision did with a
// room's claim in Redis. The set is fixed so every series exists at zero.
const (
	ClaimLocal       = "local"        // claimed for this node
	ClaimAssigned    = "assigned"     // claimed for another, less loaded node
	ClaimExisting    = "existing"     // the room was already claimed (here or elsewhere)
	ClaimTakeover    = "takeover"     // replaced the claim of a dead or draining node
	ClaimUnavailable = "unavailable"  // Redis unreachable: placed here without a claim
	ClaimConflictWon = "conflict_won" // two nodes held the room; this one kept it
	ClaimLost        = "conflict_lost"
)

var claimResults = []string{
	ClaimLocal, ClaimAssigned, ClaimExisting, ClaimTakeover, ClaimUnavailable, ClaimConflictWon, ClaimLost,
}

// Redirect reasons for Cluster.Redirects.
const (
	RedirectPlacement = "placement" // a join for a room held (or just placed) elsewhere
	RedirectMoved     = "moved"     // a room this node lost to another: its clients are sent there
)

// Redis operations for Cluster.RedisErrors.
const (
	RedisOpHeartbeat = "heartbeat"
	RedisOpPlace     = "place"
	RedisOpRelease   = "release"
)

// Cluster holds the collectors of a node in a multi-node cluster
// (package sfu/cluster). A single node registers none of them.
type Cluster struct {
	nodes       prometheus.Gauge
	redisUp     prometheus.Gauge
	redisErrors *prometheus.CounterVec
	claims      *prometheus.CounterVec
	redirects   *prometheus.CounterVec
	held        prometheus.Gauge
}

// NewCluster builds the cluster collectors and registers them on reg (nil:
// unregistered). It panics if reg already holds them, like MustRegister.
func NewCluster(reg prometheus.Registerer) *Cluster {
	m := &Cluster{
		nodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "surge_cluster_nodes", Help: "Live nodes in the cluster registry, as this node last read it (this node included).",
		}),
		redisUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "surge_cluster_redis_up", Help: "1 while the last Redis operation succeeded; 0 while Redis is unreachable and rooms are placed locally.",
		}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "surge_cluster_redis_errors_total", Help: "Failed Redis operations, by operation.",
		}, []string{"op"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "surge_room_claims_total", Help: "Room placement decisions, by result.",
		}, []string{"result"}),
		redirects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "surge_redirects_total", Help: "Clients sent a redirect to another node, by reason.",
		}, []string{"reason"}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "surge_cluster_rooms_held", Help: "Rooms this node holds a claim for (or placed locally while Redis was away).",
		}),
	}
	for _, r := range claimResults {
		m.claims.WithLabelValues(r)
	}
	for _, r := range []string{RedirectPlacement, RedirectMoved} {
		m.redirects.WithLabelValues(r)
	}
	for _, op := range []string{RedisOpHeartbeat, RedisOpPlace, RedisOpRelease} {
		m.redisErrors.WithLabelValues(op)
	}
	if reg != nil {
		reg.MustRegister(m.nodes, m.redisUp, m.redisErrors, m.claims, m.redirects, m.held)
	}
	return m
}

// Nodes is surge_cluster_nodes.
func (m *Cluster) Nodes() prometheus.Gauge { return m.nodes }

// RedisUp is surge_cluster_redis_up.
func (m *Cluster) RedisUp() prometheus.Gauge { return m.redisUp }

// RedisErrors is surge_cluster_redis_errors_total{op}; op is a RedisOp* constant.
func (m *Cluster) RedisErrors(op string) prometheus.Counter { return m.redisErrors.WithLabelValues(op) }

// Claims is surge_room_claims_total{result}; result is a Claim* constant.
func (m *Cluster) Claims(result string) prometheus.Counter { return m.claims.WithLabelValues(result) }

// Redirects is surge_redirects_total{reason}; reason is a Redirect* constant.
func (m *Cluster) Redirects(reason string) prometheus.Counter {
	return m.redirects.WithLabelValues(reason)
}

// Held is surge_cluster_rooms_held.
func (m *Cluster) Held() prometheus.Gauge { return m.held }
