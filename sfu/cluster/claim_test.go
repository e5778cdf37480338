package cluster

import "testing"

func TestClaimRoundTrip(t *testing.T) {
	c := Claim{Node: "node-1.eu_a", Since: 1700000000123}
	got, err := ParseClaim(c.String())
	if err != nil || got != c {
		t.Fatalf("ParseClaim(%q) = %+v, %v", c.String(), got, err)
	}
	for _, bad := range []string{"", "node", "|5", "node|", "node|x"} {
		if _, err := ParseClaim(bad); err == nil {
			t.Errorf("ParseClaim(%q) accepted", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	serving := NodeInfo{ID: "b", State: StateServing}
	tests := []struct {
		name string
		c    Conflict
		want Outcome
	}{
		{"same node", Conflict{Mine: Claim{"a", 5}, Theirs: Claim{"a", 9}, OwnerLive: true, Owner: NodeInfo{ID: "a", State: StateServing}}, Keep},
		{"older claim wins", Conflict{Mine: Claim{"a", 100}, Theirs: Claim{"b", 200}, Owner: serving, OwnerLive: true}, Keep},
		{"younger claim yields", Conflict{Mine: Claim{"a", 300}, Theirs: Claim{"b", 200}, Owner: serving, OwnerLive: true}, Yield},
		{"same age: smaller id wins", Conflict{Mine: Claim{"a", 200}, Theirs: Claim{"b", 200}, Owner: serving, OwnerLive: true}, Keep},
		{"same age: larger id yields", Conflict{Mine: Claim{"c", 200}, Theirs: Claim{"b", 200}, Owner: serving, OwnerLive: true}, Yield},
		{"dead owner never wins", Conflict{Mine: Claim{"a", 300}, Theirs: Claim{"b", 200}, OwnerLive: false}, Keep},
		{"draining owner never wins", Conflict{Mine: Claim{"a", 300}, Theirs: Claim{"b", 200}, Owner: NodeInfo{ID: "b", State: StateDraining}, OwnerLive: true}, Keep},
		{"a draining node yields even an older claim", Conflict{Mine: Claim{"a", 100}, Theirs: Claim{"b", 200}, Owner: serving, OwnerLive: true, Draining: true}, Yield},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Resolve(tt.c); got != tt.want {
				t.Fatalf("Resolve = %v, want %v", got, tt.want)
			}
		})
	}
}

// Both sides of a conflict between serving nodes must reach opposite
// outcomes: exactly one keeps the room.
func TestResolveIsAntisymmetric(t *testing.T) {
	claims := []Claim{{"a", 100}, {"b", 100}, {"a", 200}, {"c", 50}, {"b", 300}}
	for _, x := range claims {
		for _, y := range claims {
			if x.Node == y.Node {
				continue
			}
			ox := Resolve(Conflict{Mine: x, Theirs: y, Owner: NodeInfo{ID: y.Node, State: StateServing}, OwnerLive: true})
			oy := Resolve(Conflict{Mine: y, Theirs: x, Owner: NodeInfo{ID: x.Node, State: StateServing}, OwnerLive: true})
			if ox == oy {
				t.Errorf("%v vs %v: both %v", x, y, ox)
			}
		}
	}
}
