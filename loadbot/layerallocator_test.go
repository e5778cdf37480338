package loadbot

import (
	"slices"
	"testing"
)

func TestLayerAllocatorStopsTopLayersFirst(t *testing.T) {
	// q 150, h 500, f 1700 kbps, as DefaultLayers.
	targets := []int{150_000, 500_000, 1_700_000}
	type step struct {
		estimate int
		want     []int
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"enough for every layer", []step{
			{3_000_000, []int{150_000, 500_000, 1_700_000}},
		}},
		{"f gets what is left, down to its minimum", []step{
			{1_400_000, []int{150_000, 500_000, 750_000}},
			{1_160_000, []int{150_000, 500_000, 510_000}},
		}},
		{"below f's minimum f stops, then h", []step{
			{1_100_000, []int{150_000, 500_000, 0}},
			{300_000, []int{150_000, 150_000, 0}},
			{290_000, []int{150_000, 0, 0}},
		}},
		{"the lowest layer always goes out", []step{
			{20_000, []int{45_000, 0, 0}},
		}},
		{"a stopped layer needs a margin to restart", []step{
			{1_100_000, []int{150_000, 500_000, 0}},
			{1_200_000, []int{150_000, 500_000, 0}}, // 550 left < 510 × 1.2
			{1_300_000, []int{150_000, 500_000, 650_000}},
			{1_200_000, []int{150_000, 500_000, 550_000}}, // running: 550 ≥ 510 keeps it
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newLayerAllocator(targets)
			var rates []int
			for i, st := range tc.steps {
				rates = a.decide(st.estimate, rates)
				if !slices.Equal(rates, st.want) {
					t.Fatalf("step %d: %d bps → %v, want %v", i, st.estimate, rates, st.want)
				}
			}
		})
	}
}
