package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/surgertc/surge/loadbot/stats"
)

// PathStats is the media of the bots whose connection took one ICE path.
type PathStats struct {
	// Bots is how many bots connected over the path (both roles).
	Bots int `json:"bots"`
	// LatencyMs and LossPct are over the path's subscribers' tracks, as in
	// Summary.
	LatencyMs P50P99  `json:"latency_ms"`
	LossPct   float64 `json:"loss_pct"`
}

// buildPaths groups connected bots by the ICE path their media took, and
// summarises the TURN allocation stage of the bots that went through TURN.
func buildPaths(rooms []RoomInput) (map[string]PathStats, P50P99) {
	paths := map[string]PathStats{}
	aggs := map[string]*stats.Aggregate{}
	var turn stats.Histogram
	for _, ri := range rooms {
		for i := range ri.Bots {
			bi := &ri.Bots[i]
			if bi.Join.TURNAllocated > 0 {
				turn.Record(bi.Join.TURNAllocated)
			}
			if bi.Path == "" || bi.JoinFailure != "" {
				continue
			}
			p := paths[bi.Path]
			p.Bots++
			paths[bi.Path] = p
			if bi.Publisher {
				continue
			}
			a := aggs[bi.Path]
			if a == nil {
				a = &stats.Aggregate{}
				aggs[bi.Path] = a
			}
			for t := range bi.Tracks {
				a.Add(&bi.Tracks[t])
			}
		}
	}
	for name, a := range aggs {
		p := paths[name]
		p.LatencyMs = P50P99{P50: ms(a.Latency.Quantile(0.5)), P99: ms(a.Latency.Quantile(0.99))}
		p.LossPct = round(a.LossPct(), 3)
		paths[name] = p
	}
	return paths, P50P99{P50: ms(turn.Quantile(0.5)), P99: ms(turn.Quantile(0.99))}
}

// writePaths adds the per-path lines to the terminal table when the run
// was not all plain UDP.
func writePaths(w io.Writer, s *Summary) {
	if _, onlyUDP := s.Paths["udp"]; len(s.Paths) == 0 || (onlyUDP && len(s.Paths) == 1) {
		return
	}
	parts := make([]string, 0, len(s.Paths))
	for _, name := range sortedKeys(s.Paths) {
		p := s.Paths[name]
		parts = append(parts, fmt.Sprintf("%s: %d bots, p50 %.1f ms, p99 %.1f ms, loss %.2f %%", name, p.Bots, p.LatencyMs.P50, p.LatencyMs.P99, p.LossPct))
	}
	fmt.Fprintf(w, "paths\t%s\n", strings.Join(parts, "\t"))
	if s.TURNAllocationMs.P99 > 0 {
		fmt.Fprintf(w, "turn\tallocation p50 %.0f ms\tp99 %.0f ms\n", s.TURNAllocationMs.P50, s.TURNAllocationMs.P99)
	}
}
