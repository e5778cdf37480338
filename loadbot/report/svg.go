package report

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// The charts are drawn here rather than by a JS library so the page works
// offline and from a file:// URL, and a report stays one file. Inline SVG
// in HTML needs no xmlns, which keeps the page free of any URL at all.

const (
	chartW, chartH                     = 640, 260
	padLeft, padRight, padTop, padBott = 56, 16, 28, 40
)

type series struct {
	name   string
	color  string
	x, y   []float64
	dashed bool // a fitted or projected line rather than data
	dots   bool // points only, no line
}

// chartOpts are the extras a chart may carry beside its series.
type chartOpts struct {
	w, h int // 0: chartW × chartH
	// hline draws a horizontal reference line at y hline.y.
	hline *refLine
	// mark circles one point and labels it.
	mark *markPoint
	// ymax fixes the y axis top (0: from the data).
	ymax float64
	// small drops axis labels and legend, for small multiples.
	small bool
}

type refLine struct {
	y     float64
	label string
}

type markPoint struct {
	x, y  float64
	label string
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, so axis labels
// read as round numbers.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func fmtTick(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return fmt.Sprintf("%.0f", v)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

// lineChart draws series sharing one x and one y axis; y starts at 0.
func lineChart(title, xLabel, yLabel string, ss []series) template.HTML {
	return drawChart(title, xLabel, yLabel, ss, chartOpts{})
}

func drawChart(title, xLabel, yLabel string, ss []series, o chartOpts) template.HTML {
	w, h := o.w, o.h
	if w == 0 {
		w, h = chartW, chartH
	}
	left, right, top, bottom := padLeft, padRight, padTop, padBott
	if o.small {
		left, bottom = 40, 22
	}
	xmin, xmax, ymax := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range ss {
		for i := range s.x {
			xmin, xmax = math.Min(xmin, s.x[i]), math.Max(xmax, s.x[i])
			ymax = math.Max(ymax, s.y[i])
		}
	}
	if math.IsInf(xmin, 0) {
		return template.HTML(`<p class="empty">` + template.HTMLEscapeString(title) + `: no data</p>`)
	}
	if o.mark != nil {
		xmax, ymax = math.Max(xmax, o.mark.x), math.Max(ymax, o.mark.y)
	}
	if o.hline != nil {
		ymax = math.Max(ymax, o.hline.y)
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	ymax = niceCeil(ymax)
	if o.ymax > 0 {
		ymax = o.ymax
	}
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	px := func(x float64) float64 { return float64(left) + (x-xmin)/(xmax-xmin)*pw }
	py := func(y float64) float64 { return float64(top) + ph - math.Min(y, ymax)/ymax*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		w, h, w, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="18" class="title">%s</text>`, left, template.HTMLEscapeString(title))
	ticks := 4
	if o.small {
		ticks = 2
	}
	for i := 0; i <= ticks; i++ {
		y := ymax * float64(i) / float64(ticks)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, left, w-right, py(y), py(y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>`, left-6, py(y)+4, fmtTick(y))
	}
	xticks := 5
	if o.small {
		xticks = 2
	}
	for i := 0; i <= xticks; i++ {
		x := xmin + (xmax-xmin)*float64(i)/float64(xticks)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="tick" text-anchor="middle">%s</text>`, px(x), h-bottom+16, fmtTick(math.Round(x*10)/10))
	}
	if !o.small {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis" text-anchor="middle">%s</text>`, left+int(pw)/2, h-6, template.HTMLEscapeString(xLabel))
		fmt.Fprintf(&b, `<text x="12" y="%d" class="axis" text-anchor="middle" transform="rotate(-90 12 %d)">%s</text>`,
			top+int(ph)/2, top+int(ph)/2, template.HTMLEscapeString(yLabel))
	}
	if o.hline != nil {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="2 3"/>`, left, w-right, py(o.hline.y), py(o.hline.y), colorMuted)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="tick">%s</text>`, left+6, py(o.hline.y)-4, template.HTMLEscapeString(o.hline.label))
	}
	for si, s := range ss {
		if len(s.x) == 0 {
			continue
		}
		pts := make([]string, len(s.x))
		for i := range s.x {
			pts[i] = fmt.Sprintf("%.1f,%.1f", px(s.x[i]), py(s.y[i]))
		}
		if !s.dots {
			dash := ""
			if s.dashed {
				dash = ` stroke-dasharray="6 4"`
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`, s.color, dash, strings.Join(pts, " "))
		}
		if (s.dots || len(s.x) < 40) && !s.dashed {
			for i := range s.x {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, px(s.x[i]), py(s.y[i]), s.color)
			}
		}
		if !o.small {
			lx := w - right - 130
			ly := top + 4 + si*16
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="3" fill="%s"/>`, lx, ly+5, s.color)
			fmt.Fprintf(&b, `<text x="%d" y="%d" class="tick">%s</text>`, lx+18, ly+10, template.HTMLEscapeString(s.name))
		}
	}
	if m := o.mark; m != nil {
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="6" fill="none" stroke="%s" stroke-width="2"/>`, px(m.x), py(m.y), colorP99)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="tick" text-anchor="end">%s</text>`, px(m.x)-8, py(m.y)+16, template.HTMLEscapeString(m.label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every interpolated string above is escaped
}

// shareBars draws horizontal bars of shares in 0..1.
func shareBars(title string, labels []string, shares []float64, colors []string) template.HTML {
	const rowH, barX, barW = 26, 90, 440
	h := padTop + rowH*len(labels) + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartW, h, chartW, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="18" class="title">%s</text>`, padLeft, template.HTMLEscapeString(title))
	for i, l := range labels {
		v := math.Max(0, math.Min(1, shares[i]))
		y := padTop + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="tick" text-anchor="end">%s</text>`, barX-8, y+15, template.HTMLEscapeString(l))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="18" class="track"/>`, barX, y+2, barW)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="18" fill="%s"/>`, barX, y+2, v*barW, colors[i%len(colors)])
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="tick">%.1f %%</text>`, barX+barW+8, y+15, v*100)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every interpolated string above is escaped
}
