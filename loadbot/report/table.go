package report

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteTable writes r for a terminal: a summary block, the SLO verdict,
// one row per room and, for a ramp, one row per step.
func WriteTable(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	s := &r.Summary
	title := "loadbot run"
	if r.Scenario.Mode == "ramp" {
		title = "loadbot ramp"
	}
	if r.Partial {
		title += " (partial)"
	}
	fmt.Fprintf(bw, "%s  %s  %s → %s (%s)\n\n", title, r.Scenario.URL,
		r.StartedAt.Format("2006-01-02 15:04:05"), r.EndedAt.Format("15:04:05"),
		r.EndedAt.Sub(r.StartedAt).Round(1e9))

	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	lost := ""
	if s.Bots.Lost > 0 {
		lost = fmt.Sprintf(", %d lost with their agent", s.Bots.Lost)
	}
	fmt.Fprintf(tw, "bots\t%d/%d connected, %d failed%s%s\n", s.Bots.Connected, s.Bots.Target, s.Bots.Failed, lost, failureList(s.JoinFailures))
	fmt.Fprintf(tw, "join\tp50 %.0f ms\tp95 %.0f ms\tp99 %.0f ms\n", s.JoinMs.P50, s.JoinMs.P95, s.JoinMs.P99)
	writePaths(tw, s)
	fmt.Fprintf(tw, "latency\tp50 %.1f ms\tp95 %.1f ms\tp99 %.1f ms\tmax %.1f ms\n", s.LatencyMs.P50, s.LatencyMs.P95, s.LatencyMs.P99, s.LatencyMs.Max)
	if s.LatencyNote != "" {
		fmt.Fprintf(tw, "\t%s\n", s.LatencyNote)
	}
	if s.ClockSkew.Packets > 0 {
		fmt.Fprintf(tw, "clock skew\t%d packets before their capture time, by up to %.1f ms (not in latency)\n", s.ClockSkew.Packets, s.ClockSkew.MaxMs)
	}
	fmt.Fprintf(tw, "loss\t%.2f %%\tjitter %.1f ms\tnacks %d\tplis %d\n", s.LossPct, s.JitterMs, s.NACKsSent, s.PLIsSent)
	fmt.Fprintf(tw, "freezes\t%d\t%.1f s\t%.2f /min\n", s.Freezes.Count, s.Freezes.TotalS, s.Freezes.PerMin)
	fmt.Fprintf(tw, "layers\tq %.0f %%\th %.0f %%\tf %.0f %%\n", s.Layers.Q*100, s.Layers.H*100, s.Layers.F*100)
	fmt.Fprintf(tw, "media\t%.0f kbps/subscriber\tfirst frame p50 %.0f ms\tp99 %.0f ms\n", s.BitrateKbps, s.TimeToFirstFrameMs.P50, s.TimeToFirstFrameMs.P99)
	if t := s.TimeToTop; t.Reached+t.Never > 0 {
		fmt.Fprintf(tw, "top layer\t%d of %d unshaped subscribers on f\tafter first frame p50 %.0f ms\tp99 %.0f ms\tmax %.0f ms\n",
			t.Reached, t.Reached+t.Never, t.Ms.P50, t.Ms.P99, t.Ms.Max)
	}
	if s.Redirects > 0 || s.Reconnects > 0 || s.MediaLostBots > 0 {
		fmt.Fprintf(tw, "reconnects\t%d (%d bots)\tmedia gap p50 %.0f ms\tp99 %.0f ms\tmax %.0f ms\tmedia lost %d bots\tredirects %d\n",
			s.Reconnects, s.ReconnectedBots, s.MediaGapMs.P50, s.MediaGapMs.P99, s.MediaGapMs.Max, s.MediaLostBots, s.Redirects)
	}
	if s.SFU.Scraped {
		fmt.Fprintf(tw, "sfu\t%.2f cores of %d\theadroom %.0f %%\tforward p50 %.2f ms\tp99 %.2f ms%s\n",
			s.SFU.CPUCores, s.SFU.GOMAXPROCS, s.SFU.CPUHeadroomPct, s.SFU.ForwardLatencyMs.P50, s.SFU.ForwardLatencyMs.P99, droppedList(s.SFU.Dropped))
	} else {
		fmt.Fprintf(tw, "sfu\tnot scraped\n")
	}
	bottleneck := ""
	if s.Loadbot.Bottleneck {
		bottleneck = "\tBOTTLENECK: loadbot itself was CPU-bound; latency is not the SFU's alone"
	}
	fmt.Fprintf(tw, "loadbot\t%.2f cores%s\n", s.Loadbot.CPUCores, bottleneck)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(bw, "\nSLO: %s\n", verdictText(s.SLO))
	for _, b := range s.SLO.Breaches {
		fmt.Fprintf(bw, "  %-22s %10.2f > limit %.2f\n", b.Name, b.Actual, b.Threshold)
	}

	if len(r.Rooms) > 0 {
		fmt.Fprintln(bw)
		tw = tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "room\tpubs\tsubs\tp50 ms\tp99 ms\tmax ms\tloss %\tjitter ms\tfreezes\tq/h/f %\t")
		for _, rm := range r.Rooms {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.2f\t%.1f\t%d\t%.0f/%.0f/%.0f\t\n",
				rm.Name, rm.Publishers, rm.Subscribers, rm.LatencyMs.P50, rm.LatencyMs.P99, rm.LatencyMs.Max,
				rm.LossPct, rm.JitterMs, rm.Freezes.Count, rm.Layers.Q*100, rm.Layers.H*100, rm.Layers.F*100)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if len(r.Agents) > 0 {
		fmt.Fprintln(bw)
		tw = tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "agent\thost\tstatus\tbots\tconnected\tfailed\tp99 ms\tloadbot cores\t")
		for _, a := range r.Agents {
			if a.Summary == nil {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t-\t-\t-\t-\t\n", a.ID, a.Host, a.Status, a.Bots)
				continue
			}
			as := a.Summary
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%.1f\t%.2f\t\n", a.ID, a.Host, a.Status, a.Bots,
				as.Bots.Connected, as.Bots.Failed, as.LatencyMs.P99, as.Loadbot.CPUCores)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if len(r.Steps) > 0 {
		fmt.Fprintln(bw)
		tw = tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "step\tphase\trooms\tsubs\tbots\tp99 ms\tloss %\tjoin fail %\tfreezes\tsfu cores\theadroom %\tverdict\t")
		for _, st := range r.Steps {
			v := "held"
			if !st.Passed {
				v = "BROKE " + breachNames(st.Breaches)
			}
			head := "n/a"
			if st.SFUScraped {
				head = fmt.Sprintf("%.0f", st.SFUCPUHeadroomPct)
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%.1f\t%.2f\t%.1f\t%d\t%.2f\t%s\t%s\t\n",
				st.Step, st.Phase, st.Rooms, st.Subscribers, st.Bots, st.LatencyMs.P99, st.LossPct, st.JoinFailurePct,
				st.Freezes, st.SFUCPUCores, head, v)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if c := r.Capacity; c != nil && c.Step > 0 {
			broke := ""
			if c.UpperBots > 0 {
				broke = fmt.Sprintf("; %d bots broke", c.UpperBots)
			}
			fmt.Fprintf(bw, "\ncapacity: step %d held — %d bots, %d rooms × %d subscribers%s\n", c.Step, c.Bots, c.Rooms, c.Subscribers, broke)
		} else {
			fmt.Fprintf(bw, "\ncapacity: no step held\n")
		}
		if c := r.Capacity; c != nil && c.CPUFit != nil {
			f := c.CPUFit
			fmt.Fprintf(bw, "cpu fit: %.4f cores per subscriber + %.2f", f.SlopeCores, f.InterceptCores)
			if f.ProjectedSubscribers > 0 {
				fmt.Fprintf(bw, "; 80 %% of %d cores at ≈ %.0f subscribers", f.GOMAXPROCS, f.ProjectedSubscribers)
			}
			fmt.Fprintln(bw)
		}
	}
	return bw.Flush()
}

func verdictText(v Verdict) string {
	if v.Passed {
		return "PASSED"
	}
	return "FAILED (" + breachNames(v.Breaches) + ")"
}

func breachNames(bs []Breach) string {
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Name
	}
	return strings.Join(names, ", ")
}

func failureList(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func droppedList(m map[string]float64) string {
	if len(m) == 0 {
		return ""
	}
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, m[k]))
	}
	return "\tdropped " + strings.Join(parts, ", ")
}

// sortedKeys keeps map output stable between runs so reports diff cleanly.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
