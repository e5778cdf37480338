package stats

import (
	"testing"
	"time"
)

func TestFreezeDetector(t *testing.T) {
	const fps30 = time.Second / 30
	steady := func(n int) []time.Duration {
		g := make([]time.Duration, n)
		for i := range g {
			g[i] = fps30
		}
		return g
	}
	cat := func(parts ...[]time.Duration) []time.Duration {
		var out []time.Duration
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	one := func(d time.Duration) []time.Duration { return []time.Duration{d} }

	tests := []struct {
		name      string
		gaps      []time.Duration // between consecutive frames
		wantCount int
		wantTotal time.Duration
	}{
		{"no frames", nil, 0, 0},
		{"steady 30 fps", steady(300), 0, 0},
		{"500 ms gap at 30 fps", cat(steady(60), one(500*time.Millisecond), steady(60)), 1, 500 * time.Millisecond},
		// 3×33 ms = 100 ms but avg+150 ms = 183 ms: the 150 ms floor rules.
		{"150 ms gap at 30 fps is pacing", cat(steady(60), one(150*time.Millisecond), steady(60)), 0, 0},
		{"exactly avg+150 ms counts", cat(steady(30), one(fps30+150*time.Millisecond)), 1, fps30 + 150*time.Millisecond},
		// At 5 fps (200 ms) the 3× rule rules: 600 ms is a freeze, 550 ms not.
		{"5 fps, 550 ms", cat(steady(0), []time.Duration{200, 200, 200, 200, 550}), 0, 0},
		{"5 fps, 600 ms", cat([]time.Duration{200, 200, 200, 200, 600}), 1, 600},
		{"two freezes", cat(steady(30), one(time.Second), steady(30), one(400*time.Millisecond), steady(30)), 2, 1400 * time.Millisecond},
		// The first gap has no average to compare with.
		{"first gap is never a freeze", cat(one(2*time.Second), steady(10)), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The 5 fps cases are written in ms for brevity.
			gaps := tt.gaps
			total := tt.wantTotal
			if len(gaps) > 0 && gaps[0] < time.Microsecond {
				for i := range gaps {
					gaps[i] *= time.Millisecond
				}
				total *= time.Millisecond
			}
			var f FreezeDetector
			now := time.Unix(1000, 0)
			f.OnFrame(now)
			for _, g := range gaps {
				now = now.Add(g)
				f.OnFrame(now)
			}
			if f.Count() != tt.wantCount || f.TotalDuration() != total {
				t.Fatalf("freezes = %d / %v, want %d / %v", f.Count(), f.TotalDuration(), tt.wantCount, total)
			}
		})
	}
}
