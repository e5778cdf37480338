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
}

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
	return htmlTemplate.Execute(w, p)
}
