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
	name  string
	color string
	x, y  []float64
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
	if xmax == xmin {
		xmax = xmin + 1
	}
	ymax = niceCeil(ymax)
	pw, ph := float64(chartW-padLeft-padRight), float64(chartH-padTop-padBott)
	px := func(x float64) float64 { return padLeft + (x-xmin)/(xmax-xmin)*pw }
	py := func(y float64) float64 { return padTop + ph - y/ymax*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="18" class="title">%s</text>`, padLeft, template.HTMLEscapeString(title))
	for i := 0; i <= 4; i++ {
		y := ymax * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, padLeft, chartW-padRight, py(y), py(y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>`, padLeft-6, py(y)+4, fmtTick(y))
	}
	for i := 0; i <= 5; i++ {
		x := xmin + (xmax-xmin)*float64(i)/5
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="tick" text-anchor="middle">%s</text>`, px(x), chartH-padBott+16, fmtTick(math.Round(x*10)/10))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis" text-anchor="middle">%s</text>`, padLeft+int(pw)/2, chartH-6, template.HTMLEscapeString(xLabel))
	fmt.Fprintf(&b, `<text x="12" y="%d" class="axis" text-anchor="middle" transform="rotate(-90 12 %d)">%s</text>`,
		padTop+int(ph)/2, padTop+int(ph)/2, template.HTMLEscapeString(yLabel))
	for si, s := range ss {
		if len(s.x) == 0 {
			continue
		}
		pts := make([]string, len(s.x))
		for i := range s.x {
			pts[i] = fmt.Sprintf("%.1f,%.1f", px(s.x[i]), py(s.y[i]))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, s.color, strings.Join(pts, " "))
		if len(s.x) < 40 {
			for i := range s.x {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, px(s.x[i]), py(s.y[i]), s.color)
			}
		}
		lx := chartW - padRight - 110*(len(ss)-si)
		fmt.Fprintf(&b, `<rect x="%d" y="8" width="10" height="10" fill="%s"/><text x="%d" y="17" class="tick">%s</text>`,
			lx, s.color, lx+14, template.HTMLEscapeString(s.name))
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
