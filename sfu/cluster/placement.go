package cluster

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Node states.
const (
	StateServing  = "serving"
	StateDraining = "draining" // never chosen for new rooms
)

// Load is what a node reports about itself at each heartbeat.
type Load struct {
	// CPUCores is the cores the node's process used over the last
	// heartbeat interval; GOMAXPROCS is what it may use.
	CPUCores      float64 `json:"cpu_cores"`
	GOMAXPROCS    int     `json:"gomaxprocs"`
	Rooms         int     `json:"rooms"`
	Participants  int     `json:"participants"`
	PacketsPerSec float64 `json:"packets_per_s"`
}

// Headroom is the share (0..1) of the node's cores still free.
func (l Load) Headroom() float64 {
	if l.GOMAXPROCS <= 0 {
		return 0
	}
	return math.Max(0, math.Min(1, 1-l.CPUCores/float64(l.GOMAXPROCS)))
}

// NodeInfo is a node's entry in the registry.
type NodeInfo struct {
	ID        string    `json:"id"`
	SignalURL string    `json:"signal_url"`
	AdminURL  string    `json:"admin_url,omitempty"`
	Region    string    `json:"region,omitempty"`
	State     string    `json:"state"`
	Load      Load      `json:"load"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Candidate is a node as placement sees it: its registry entry and the
// number of live room claims it has, which Redis keeps exact at every
// claim, whereas Load is only as fresh as the last heartbeat.
type Candidate struct {
	Info   NodeInfo
	Claims int
}

// Policy tunes Choose.
type Policy struct {
	// RegionHeadroom: a node in the client's region is preferred while its
	// headroom is at least this.
	RegionHeadroom float64
	// HeadroomStep buckets headroom before comparing, so that noise of a
	// few percent between nodes does not decide; nodes in one bucket are
	// ordered by participants, then claims.
	HeadroomStep float64
	// AmpleHeadroom: headroom above it counts as equal. Between nodes that
	// are mostly idle CPU readings are noise (the entry node, busy with
	// redirects, reads a little higher); participants balance them better.
	AmpleHeadroom float64
}

// DefaultPolicy buckets headroom in 10 % steps and treats more than half
// the cores free as ample.
func DefaultPolicy(regionHeadroom float64) Policy {
	return Policy{RegionHeadroom: regionHeadroom, HeadroomStep: 0.1, AmpleHeadroom: 0.5}
}

// Choose picks the node for a new room: the least-loaded serving node —
// most CPU headroom first (in HeadroomStep buckets, all headroom above
// AmpleHeadroom alike), then fewest participants, then fewest claimed rooms, then the smallest id so that the
// answer is the same wherever it is computed. When region is set and a
// serving node there has RegionHeadroom, only that region's nodes compete.
// ok is false when no node is serving.
func Choose(nodes []Candidate, region string, p Policy) (Candidate, bool) {
	serving := make([]Candidate, 0, len(nodes))
	for _, n := range nodes {
		if n.Info.State == StateServing {
			serving = append(serving, n)
		}
	}
	if len(serving) == 0 {
		return Candidate{}, false
	}
	if region != "" {
		local := slices.DeleteFunc(slices.Clone(serving), func(n Candidate) bool {
			return n.Info.Region != region || n.Info.Load.Headroom() < p.RegionHeadroom
		})
		if len(local) > 0 {
			serving = local
		}
	}
	level := func(c Candidate) int {
		h := c.Info.Load.Headroom()
		if p.AmpleHeadroom > 0 {
			h = min(h, p.AmpleHeadroom)
		}
		return bucket(h, p.HeadroomStep)
	}
	best := slices.MinFunc(serving, func(a, b Candidate) int {
		return cmp.Or(
			cmp.Compare(level(b), level(a)),
			cmp.Compare(a.Info.Load.Participants, b.Info.Load.Participants),
			cmp.Compare(a.Claims, b.Claims),
			cmp.Compare(a.Info.ID, b.Info.ID),
		)
	})
	return best, true
}

func bucket(headroom, step float64) int {
	if step <= 0 {
		return int(headroom * 1e6)
	}
	// The epsilon keeps 0.3/0.1 in bucket 3, not 2.
	return int(math.Floor(headroom/step + 1e-9))
}
