package simulcast

import (
	"testing"
	"time"
)

func TestLossEstimator(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name   string
		losses []float64 // one report per second
		want   int64
	}{
		{"clean link grows 8% per second", []float64{0, 0}, 1_166_400},
		{"moderate loss holds", []float64{0.05, 0.05, 0.05}, 1_000_000},
		{"heavy loss cuts by half the loss", []float64{0.2}, 900_000},
		{"sustained heavy loss reaches the floor", []float64{0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9}, 100_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewLossEstimator(1_000_000, 100_000, 5_000_000)
			var got int64
			for i, l := range tt.losses {
				got = e.Update(l, t0.Add(time.Duration(i)*time.Second))
			}
			if got != tt.want || e.Estimate() != got {
				t.Fatalf("estimate = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLossEstimatorCeiling(t *testing.T) {
	e := NewLossEstimator(4_900_000, 100_000, 5_000_000)
	now := time.Unix(0, 0)
	for i := 0; i < 10; i++ {
		now = now.Add(time.Second)
		e.Update(0, now)
	}
	if e.Estimate() != 5_000_000 {
		t.Fatalf("estimate %d exceeds the ceiling", e.Estimate())
	}
}
