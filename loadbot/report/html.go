package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"time"
)

//go:embed report.html.tmpl
var htmlSource string

// htmlTemplate is parsed once; a broken template is a build-time bug, so
// it panics at init rather than failing every report.
var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"f0":  func(v float64) string { return fmt.Sprintf("%.0f", v) },
	"f1":  func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f2":  func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"pct": func(v float64) string { return fmt.Sprintf("%.0f%%", v*100) },
}).Parse(htmlSource))

type htmlPage struct {
	R                              *Report
	Title                          string
	Duration                       string
	LatencyChart, LayerChart       template.HTML
	RampCPUChart, RampLatencyChart template.HTML
	// RoomCharts are the per-room small multiples; RoomChartsNote says
	// when only the first rooms are drawn.
	RoomCharts     []template.HTML
	RoomChartsNote string
	CapacityChart  template.HTML
}

// MaxRoomCharts bounds the small multiples: past a few dozen, a grid of
// charts stops being readable and the rooms table says more.
const MaxRoomCharts = 24

// Chart colours, picked to stay apart for the common colour-blindnesses.
const (
	colorP50   = "#2f6fdf"
	colorP99   = "#e0662b"
	colorCPU   = "#2a9d6f"
	colorMuted = "#8a94a6"
)

// WriteHTML writes r as one self-contained HTML page: inline CSS and SVG
// charts drawn here, no scripts and no external references, so the file
// can be mailed or archived and still open offline.
func WriteHTML(w io.Writer, r *Report) error {
	p := htmlPage{R: r, Title: "loadbot run", Duration: r.EndedAt.Sub(r.StartedAt).Round(time.Second).String()}
	if r.Scenario.Mode == "ramp" || len(r.Steps) > 0 {
		p.Title = "loadbot ramp"
	}

	n := len(r.Timeline)
	t, p50, p99 := make([]float64, n), make([]float64, n), make([]float64, n)
	for i, pt := range r.Timeline {
		t[i], p50[i], p99[i] = pt.TS, pt.LatencyMs.P50, pt.LatencyMs.P99
	}
	p.LatencyChart = lineChart("One-way latency over time", "time (s)", "ms", []series{
		{name: "p50", color: colorP50, x: t, y: p50},
		{name: "p99", color: colorP99, x: t, y: p99},
	})
	l := r.Summary.Layers
	p.LayerChart = shareBars("Share of subscriber video time per layer",
		[]string{"q (low)", "h (mid)", "f (full)"}, []float64{l.Q, l.H, l.F},
		[]string{colorMuted, colorP50, colorCPU})

	if len(r.Steps) > 0 {
		m := len(r.Steps)
		bots, cpu, sp50, sp99 := make([]float64, m), make([]float64, m), make([]float64, m), make([]float64, m)
		for i, s := range r.Steps {
			bots[i], cpu[i], sp50[i], sp99[i] = float64(s.Bots), s.SFUCPUCores, s.LatencyMs.P50, s.LatencyMs.P99
		}
		p.RampCPUChart = lineChart("SFU CPU against load", "bots", "cores", []series{
			{name: "SFU cores", color: colorCPU, x: bots, y: cpu},
		})
		p.RampLatencyChart = lineChart("Latency against load", "bots", "ms", []series{
			{name: "p50", color: colorP50, x: bots, y: sp50},
			{name: "p99", color: colorP99, x: bots, y: sp99},
		})
	}
	p.RoomCharts, p.RoomChartsNote = roomCharts(r)
	p.CapacityChart = capacityChart(r)
	return htmlTemplate.Execute(w, p)
}

// roomCharts draws one small latency chart per room, on one shared y
// scale so that rooms compare at a glance.
func roomCharts(r *Report) ([]template.HTML, string) {
	var ymax float64
	n := 0
	for _, room := range r.Rooms {
		if len(room.Timeline) > 0 {
			n++
			for _, pt := range room.Timeline {
				ymax = max(ymax, pt.LatencyMs.P99)
			}
		}
	}
	if n < 2 {
		return nil, "" // one room: the run's own chart is that room's
	}
	ymax = niceCeil(ymax)
	var out []template.HTML
	for _, room := range r.Rooms {
		if len(room.Timeline) == 0 {
			continue
		}
		if len(out) == MaxRoomCharts {
			break
		}
		m := len(room.Timeline)
		t, p50, p99 := make([]float64, m), make([]float64, m), make([]float64, m)
		for i, pt := range room.Timeline {
			t[i], p50[i], p99[i] = pt.TS, pt.LatencyMs.P50, pt.LatencyMs.P99
		}
		out = append(out, drawChart(room.Name+" latency (ms)", "time (s)", "ms", []series{
			{name: "p50", color: colorP50, x: t, y: p50},
			{name: "p99", color: colorP99, x: t, y: p99},
		}, chartOpts{w: 260, h: 150, small: true, ymax: ymax}))
	}
	note := ""
	if n > len(out) {
		note = fmt.Sprintf("first %d of %d rooms", len(out), n)
	}
	return out, note
}

// capacityChart draws the ramp's SFU CPU (as a share of its cores) against
// subscribers, the fitted line, and where the line reaches 80 %.
func capacityChart(r *Report) template.HTML {
	if r.Capacity == nil || r.Capacity.CPUFit == nil {
		return ""
	}
	f := r.Capacity.CPUFit
	cores := float64(f.GOMAXPROCS)
	var xs, ys []float64
	xmax := 0.0
	for _, s := range r.Steps {
		if s.SFUScraped {
			x := float64(s.Rooms * s.Subscribers)
			xs, ys = append(xs, x), append(ys, s.SFUCPUCores/cores*100)
			xmax = max(xmax, x)
		}
	}
	o := chartOpts{hline: &refLine{y: ProjectAtShare * 100, label: "80 % CPU"}}
	end := xmax
	if f.ProjectedSubscribers > 0 {
		end = max(end, f.ProjectedSubscribers)
		o.mark = &markPoint{x: f.ProjectedSubscribers, y: ProjectAtShare * 100,
			label: fmt.Sprintf("≈ %.0f subscribers", f.ProjectedSubscribers)}
	}
	line := func(x float64) float64 { return (f.InterceptCores + f.SlopeCores*x) / cores * 100 }
	return drawChart("Capacity: SFU CPU against subscribers", "subscribers", "% of SFU cores", []series{
		{name: "steps", color: colorCPU, x: xs, y: ys, dots: true},
		{name: "fit", color: colorP50, x: []float64{0, end}, y: []float64{max(line(0), 0), line(end)}, dashed: true},
	}, o)
}
