package cluster

import "testing"

func cand(id, state, region string, cpu float64, procs, parts, claims int) Candidate {
	return Candidate{
		Info:   NodeInfo{ID: id, State: state, Region: region, SignalURL: "ws://" + id + "/rtc", Load: Load{CPUCores: cpu, GOMAXPROCS: procs, Participants: parts}},
		Claims: claims,
	}
}

func TestChoose(t *testing.T) {
	p := DefaultPolicy(0.2)
	tests := []struct {
		name   string
		nodes  []Candidate
		region string
		want   string // "" means none
	}{
		{"no nodes", nil, "", ""},
		{"only draining nodes", []Candidate{cand("a", StateDraining, "", 0, 2, 0, 0)}, "", ""},
		{"draining is never chosen, however idle", []Candidate{
			cand("a", StateDraining, "", 0, 2, 0, 0), cand("b", StateServing, "", 1.5, 2, 90, 9)}, "", "b"},
		{"more headroom wins over fewer participants", []Candidate{
			cand("a", StateServing, "", 1.6, 2, 1, 1), cand("b", StateServing, "", 1.2, 2, 50, 5)}, "", "b"},
		{"ample headroom is alike: fewer participants", []Candidate{
			cand("a", StateServing, "", 0.9, 2, 1, 1), cand("b", StateServing, "", 0.1, 2, 50, 5)}, "", "a"},
		{"ample beats short headroom", []Candidate{
			cand("a", StateServing, "", 1.5, 2, 0, 0), cand("b", StateServing, "", 0.9, 2, 50, 5)}, "", "b"},
		{"headroom within one bucket: fewer participants", []Candidate{
			cand("a", StateServing, "", 0.10, 2, 10, 1), cand("b", StateServing, "", 0.15, 2, 3, 4)}, "", "b"},
		{"same participants: fewer claims (fresh placements count at once)", []Candidate{
			cand("a", StateServing, "", 0, 2, 0, 2), cand("b", StateServing, "", 0, 2, 0, 1), cand("c", StateServing, "", 0, 2, 0, 2)}, "", "b"},
		{"all equal: smallest id, the same answer everywhere", []Candidate{
			cand("c", StateServing, "", 0, 2, 0, 0), cand("a", StateServing, "", 0, 2, 0, 0), cand("b", StateServing, "", 0, 2, 0, 0)}, "", "a"},
		{"headroom normalised by GOMAXPROCS", []Candidate{
			cand("a", StateServing, "", 1.5, 2, 0, 0), cand("b", StateServing, "", 1.5, 8, 0, 0)}, "", "b"},
		{"region preferred while it has headroom", []Candidate{
			cand("eu1", StateServing, "eu", 1.4, 2, 40, 4), cand("us1", StateServing, "us", 0, 2, 0, 0)}, "eu", "eu1"},
		{"region without headroom: least loaded anywhere", []Candidate{
			cand("eu1", StateServing, "eu", 1.9, 2, 40, 4), cand("us1", StateServing, "us", 0, 2, 0, 0)}, "eu", "us1"},
		{"unknown region: least loaded anywhere", []Candidate{
			cand("eu1", StateServing, "eu", 1.4, 2, 0, 0), cand("us1", StateServing, "us", 0, 2, 0, 0)}, "ap", "us1"},
		{"region: the least loaded within it", []Candidate{
			cand("eu1", StateServing, "eu", 0, 2, 9, 0), cand("eu2", StateServing, "eu", 0, 2, 2, 0), cand("us1", StateServing, "us", 0, 2, 0, 0)}, "eu", "eu2"},
		{"draining node in the region does not count", []Candidate{
			cand("eu1", StateDraining, "eu", 0, 2, 0, 0), cand("us1", StateServing, "us", 0.5, 2, 0, 0)}, "eu", "us1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Choose(tt.nodes, tt.region, p)
			if tt.want == "" {
				if ok {
					t.Fatalf("chose %s, want none", got.Info.ID)
				}
				return
			}
			if !ok || got.Info.ID != tt.want {
				t.Fatalf("chose %q (ok=%v), want %q", got.Info.ID, ok, tt.want)
			}
		})
	}
}

func TestHeadroomBuckets(t *testing.T) {
	for _, tt := range []struct {
		h    float64
		want int
	}{{0, 0}, {0.05, 0}, {0.1, 1}, {0.3, 3}, {0.99, 9}, {1, 10}} {
		if got := bucket(tt.h, 0.1); got != tt.want {
			t.Errorf("bucket(%v) = %d, want %d", tt.h, got, tt.want)
		}
	}
	if h := (Load{CPUCores: 3, GOMAXPROCS: 2}).Headroom(); h != 0 {
		t.Errorf("overloaded headroom %v, want 0", h)
	}
	if h := (Load{}).Headroom(); h != 0 {
		t.Errorf("unknown GOMAXPROCS headroom %v, want 0", h)
	}
}
