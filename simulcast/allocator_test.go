package simulcast

import "testing"

func demands(n int) []TrackDemand {
	ts := make([]TrackDemand, n)
	for i := range ts {
		ts[i] = TrackDemand{LayerBitrates: rates, MaxLayer: 2, Visible: true, Current: -1}
	}
	return ts
}

// layerFor is the layer a budget from Allocate lets a fresh track reach.
func layerFor(budget int64) int {
	for l := NumLayers - 1; l >= 0; l-- {
		if fits(&rates, l, budget, DefaultConfig().UpHeadroom) {
			return l
		}
	}
	return -1
}

func TestAllocate(t *testing.T) {
	q, h, f := int64(172_500), int64(575_000), int64(1_955_000) // with 1.15 headroom
	tests := []struct {
		name     string
		estimate int64
		audio    int64
		mod      func([]TrackDemand)
		want     []int
	}{
		{"4 q and a bit: all q, nobody paused", 4*q + 100_000, 0, nil, []int{0, 0, 0, 0}},
		{"2 h upgrades: two upgraded, not one to f", 4*q + 2*(h-q) + 10_000, 0, nil, []int{1, 1, 0, 0}},
		{"enough for all h and one f", 3*h + f, 0, nil, []int{2, 1, 1, 1}},
		{"too little for all q: first tracks keep video", 2*q + 50_000, 0, nil, []int{0, 0, -1, -1}},
		{"audio reserved first", 4 * q, 2 * DefaultConfig().AudioReserve, nil, []int{0, 0, 0, -1}},
		{"invisible gets nothing, others share", 4 * q, 0, func(ts []TrackDemand) { ts[0].Visible = false }, []int{-1, 0, 0, 0}},
		{"max layer bounds upgrades", 10_000_000, 0, func(ts []TrackDemand) { ts[1].MaxLayer = 0; ts[2].MaxLayer = 1 }, []int{2, 0, 1, 2}},
		{"cheapest upgrade first", 4*q + (h - q), 0, func(ts []TrackDemand) {
			ts[3].LayerBitrates[1] = 300_000 // cheap h: gets the one upgrade
		}, []int{0, 0, 0, 1}},
		{"zero estimate pauses all", 0, 1, nil, []int{-1, -1, -1, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := demands(4)
			if tt.mod != nil {
				tt.mod(ts)
			}
			out := NewAllocator(DefaultConfig()).Allocate(tt.estimate, tt.audio, ts, nil)
			var sum int64
			for i, b := range out {
				sum += b
				got := -1
				for l := NumLayers - 1; l >= 0; l-- {
					if fits(&ts[i].LayerBitrates, l, b, DefaultConfig().UpHeadroom) {
						got = l
						break
					}
				}
				if got != tt.want[i] {
					t.Errorf("track %d: budget %d = layer %d, want %d (all %v)", i, b, got, tt.want[i], out)
				}
			}
			if sum > tt.estimate-tt.audio && sum > 0 {
				t.Errorf("allocated %d of %d", sum, tt.estimate)
			}
		})
	}
}

// TestAllocateLeftoverGoesToFirstUnfunded: what is left after the lowest
// layers and upgrades goes to the first track that did not get its lowest
// layer, so the Selector can keep it there on an estimate a little short
// (Config.PauseHeadroom); the tracks after it get nothing.
func TestAllocateLeftoverGoesToFirstUnfunded(t *testing.T) {
	q := int64(172_500) // q with 1.15 headroom
	ts := demands(4)
	out := NewAllocator(DefaultConfig()).Allocate(2*q+50_000, 0, ts, nil)
	want := []int64{q, q, 50_000, 0}
	for i := range want {
		if out[i] != want[i] {
			t.Fatalf("budgets %v, want %v", out, want)
		}
	}
	ts = demands(2)
	ts[0].Visible = false
	out = NewAllocator(DefaultConfig()).Allocate(100_000, 0, ts, nil)
	if out[0] != 0 || out[1] != 100_000 {
		t.Fatalf("budgets %v: the invisible track got the leftover, or the visible one did not", out)
	}
}

func TestAllocateKeepingCostsLess(t *testing.T) {
	// A track already on h keeps it with 1.0× headroom when a newcomer
	// would need 1.15×: allocation has the Selector's hysteresis.
	ts := demands(1)
	ts[0].Current = 1
	out := NewAllocator(DefaultConfig()).Allocate(520_000, 0, ts, nil)
	if out[0] < rates[1] {
		t.Fatalf("budget %d drops a track that is on h", out[0])
	}
	ts[0].Current = 0
	out = NewAllocator(DefaultConfig()).Allocate(520_000, 0, ts, out)
	if out[0] != rates[0] || layerFor(out[0]) >= 1 {
		t.Fatalf("budget %d: want exactly q, kept without headroom", out[0])
	}
}

func TestAllocateDoesNotAllocate(t *testing.T) {
	a := NewAllocator(DefaultConfig())
	ts := demands(8)
	out := make([]int64, 0, 8)
	a.Allocate(3_000_000, 128_000, ts, out)
	if n := testing.AllocsPerRun(100, func() { out = a.Allocate(3_000_000, 128_000, ts, out) }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}
