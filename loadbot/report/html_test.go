package report

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func renderHTML(t *testing.T, r *Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func rampReport() Report {
	in := sampleInput()
	in.Scenario.Mode = "ramp"
	s := Build(in).Summary
	for i := 1; i <= 3; i++ {
		s.LatencyMs.P99 = float64(50 * i)
		s.SFU.CPUCores = float64(i)
		s.SLO.Passed = i < 3
		in.Steps = append(in.Steps, NewStep(i, Load{Rooms: i, Publishers: 1, Subscribers: 3}, s))
	}
	return Build(in)
}

// TestHTMLIsSelfContained protects the promise that a report opens
// offline and leaks no request when opened: nothing is fetched.
func TestHTMLIsSelfContained(t *testing.T) {
	for name, r := range map[string]Report{"run": Build(sampleInput()), "ramp": rampReport()} {
		t.Run(name, func(t *testing.T) {
			page := renderHTML(t, &r)
			doc, err := html.Parse(strings.NewReader(page))
			if err != nil {
				t.Fatal(err)
			}
			var svgs, scripts int
			var walk func(n *html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.ElementNode {
					switch n.Data {
					case "svg":
						svgs++
					case "script", "iframe", "object", "embed", "link", "img":
						scripts++
					}
					for _, a := range n.Attr {
						v := strings.ToLower(strings.TrimSpace(a.Val))
						if a.Key == "src" || a.Key == "href" || a.Key == "xlink:href" || strings.HasPrefix(v, "http") || strings.HasPrefix(v, "//") {
							t.Errorf("<%s %s=%q> references something outside the page", n.Data, a.Key, a.Val)
						}
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
			if scripts != 0 {
				t.Errorf("%d script/link/img-like elements", scripts)
			}
			// Latency and layers, two rooms' small multiples; a ramp adds
			// CPU, latency against load and the capacity curve.
			wantSVG := 4
			if name == "ramp" {
				wantSVG = 7
			}
			if svgs != wantSVG {
				t.Errorf("%d <svg> charts, want %d", svgs, wantSVG)
			}
			if m := regexp.MustCompile(`(?i)url\(|@import|(src|href)\s*=`).FindString(page); m != "" {
				t.Errorf("page fetches something: %q", m)
			}
			// The scenario URL is text, not a link; only wss:// appears.
			if regexp.MustCompile(`(?i)https?://`).MatchString(page) {
				t.Error("page contains an http(s):// reference")
			}
			for _, want := range []string{"SLO failed", "join_failure_pct", "room-0", "room-1", "<polyline", "wss://sfu.example/rtc"} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if name == "ramp" && !strings.Contains(page, "step 2 held") {
				t.Error("ramp page lacks the capacity")
			}
			if !strings.Contains(page, "Latency per room") || !strings.Contains(page, "room-1 latency (ms)") {
				t.Error("page lacks the per-room small multiples")
			}
			if name == "ramp" && !strings.Contains(page, "Capacity: SFU CPU against subscribers") {
				t.Error("ramp page lacks the capacity curve")
			}
		})
	}
}

func TestHTMLEscapesNames(t *testing.T) {
	r := Build(sampleInput())
	r.Rooms[0].Name = `<script>alert(1)</script>`
	page := renderHTML(t, &r)
	if strings.Contains(page, "<script>") {
		t.Fatal("room name reached the page unescaped")
	}
}

func TestHTMLEmptyReport(t *testing.T) {
	r := Build(Input{})
	page := renderHTML(t, &r)
	if !strings.Contains(page, "no data") {
		t.Error("an empty timeline should say so instead of drawing an empty chart")
	}
}

func TestWriteTable(t *testing.T) {
	r := rampReport()
	var buf bytes.Buffer
	if err := WriteTable(&buf, &r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"loadbot ramp", "7/8 connected, 1 failed (ice_timeout 1)", "SLO: FAILED (join_failure_pct)",
		"room-0", "room-1", "BOTTLENECK", "capacity: step 2 held", "BROKE"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if len([]rune(line)) > 160 {
			t.Errorf("line too wide for a terminal (%d): %s", len([]rune(line)), line)
		}
	}
	if testing.Verbose() {
		t.Log("\n" + out)
	}
}

// TestCapacityCurveShowsTheProjection: the curve plots each step's SFU CPU
// share, the fitted line and the projected subscribers at 80 % CPU.
func TestCapacityCurveShowsTheProjection(t *testing.T) {
	r := rampReport()
	for i := range r.Steps {
		r.Steps[i].SFUCPUCores = 0.2 + 0.1*float64(r.Steps[i].Rooms*r.Steps[i].Subscribers)/3
	}
	r.Capacity.CPUFit = FitCPU(r.Steps, 4)
	// 0.2 + 0.1/3 × n = 3.2 cores at n = 90 subscribers.
	if f := r.Capacity.CPUFit; f == nil || !near(f.ProjectedSubscribers, 90, 0.01) {
		t.Fatalf("fit %+v", f)
	}
	page := renderHTML(t, &r)
	for _, want := range []string{"≈ 90 subscribers", "80 % CPU", `stroke-dasharray="6 4"`, "80 % of 4 cores at ≈ 90 subscribers"} {
		if !strings.Contains(page, want) {
			t.Errorf("capacity curve lacks %q", want)
		}
	}
}

func TestRoomChartsAreBounded(t *testing.T) {
	r := Build(sampleInput())
	room := r.Rooms[0]
	r.Rooms = nil
	for i := 0; i < MaxRoomCharts+6; i++ {
		room.Name = fmt.Sprintf("room-%02d", i)
		r.Rooms = append(r.Rooms, room)
	}
	charts, note := roomCharts(&r)
	if len(charts) != MaxRoomCharts || note != fmt.Sprintf("first %d of %d rooms", MaxRoomCharts, MaxRoomCharts+6) {
		t.Fatalf("%d charts, note %q", len(charts), note)
	}
}
