package cluster

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Claim is the value of a room's key in Redis: the node that holds the room
// and when the claim was first made (unix milliseconds, the claiming
// node's clock). Both are fixed for the claim's life, which makes them fit
// to settle a conflict: whoever compares them reaches the same answer.
type Claim struct {
	Node  string
	Since int64
}

// String is the stored form, "node|since"; node ids cannot hold '|'.
func (c Claim) String() string { return c.Node + "|" + strconv.FormatInt(c.Since, 10) }

// ParseClaim reads the stored form.
func ParseClaim(s string) (Claim, error) {
	node, since, ok := strings.Cut(s, "|")
	if !ok || node == "" {
		return Claim{}, fmt.Errorf("malformed claim %q", s)
	}
	ms, err := strconv.ParseInt(since, 10, 64)
	if err != nil {
		return Claim{}, fmt.Errorf("malformed claim %q: %v", s, err)
	}
	return Claim{Node: node, Since: ms}, nil
}

// Outcome of a conflict between two claims on one room.
type Outcome int

const (
	// Keep: this node keeps the room and replaces the other claim.
	Keep Outcome = iota
	// Yield: the other node keeps the room; this one sends its clients there.
	Yield
)

func (o Outcome) String() string {
	if o == Keep {
		return "keep"
	}
	return "yield"
}

// Conflict is what a node knows when it finds another node's claim on a
// room it holds (typically after Redis came back from an outage during
// which both placed the room locally).
type Conflict struct {
	Mine, Theirs Claim
	// Owner is the registry entry of Theirs.Node; OwnerLive is false when
	// that node has no live entry.
	Owner     NodeInfo
	OwnerLive bool
	// Draining is this node's own state: a draining node gives rooms up.
	Draining bool
}

// Resolve settles a conflict. A draining node always yields; a claim of a
// node that is dead or draining never wins; otherwise the older claim wins
// and equal ages go to the smaller node id. Every rule depends only on
// values both sides see, so both reach the same outcome and the loser alone
// moves its clients.
func Resolve(c Conflict) Outcome {
	switch {
	case c.Theirs.Node == c.Mine.Node:
		return Keep
	case c.Draining:
		return Yield
	case !c.OwnerLive || c.Owner.State != StateServing:
		return Keep
	}
	if r := cmp.Or(cmp.Compare(c.Mine.Since, c.Theirs.Since), cmp.Compare(c.Mine.Node, c.Theirs.Node)); r < 0 {
		return Keep
	}
	return Yield
}
