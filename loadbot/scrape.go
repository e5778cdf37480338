package loadbot

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/surgertc/surge/loadbot/report"
	"github.com/surgertc/surge/metrics"
)

// sfuScraper reads the SFU's admin /metrics once per interval, so the
// report can say how much CPU the SFU used for the load and what headroom
// it had left. A failed scrape is skipped, never fatal: the run's purpose is
// the bots' view, the SFU's is a bonus.
type sfuScraper struct {
	url    string
	client *http.Client

	mu       sync.Mutex
	first    *metrics.SFUScrape
	prev     *metrics.SFUScrape
	last     *metrics.SFUScrape
	samples  []report.SFUSample
	cores    float64 // over the latest interval; -1 unknown
	failures int
	lastErr  error
}

func newSFUScraper(url string, interval time.Duration) *sfuScraper {
	return &sfuScraper{
		url:    url,
		client: &http.Client{Timeout: max(interval*9/10, 200*time.Millisecond), Transport: &http.Transport{Proxy: nil}},
		cores:  -1,
	}
}

// run scrapes until ctx ends.
func (s *sfuScraper) run(ctx context.Context, interval time.Duration) {
	s.scrape(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.scrape(ctx)
		}
	}
}

func (s *sfuScraper) scrape(ctx context.Context) {
	sc, err := s.fetch(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failures++
		s.lastErr = err
		return
	}
	if s.first == nil {
		s.first = &sc
	}
	s.prev, s.last = s.last, &sc
	s.samples = append(s.samples, report.SFUSample{At: sc.At, CPUSeconds: sc.CPUSeconds})
	if s.prev != nil {
		if c, _, ok := sc.CPUSince(*s.prev); ok {
			s.cores = c
		}
	}
}

func (s *sfuScraper) fetch(ctx context.Context) (metrics.SFUScrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return metrics.SFUScrape{}, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return metrics.SFUScrape{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return metrics.SFUScrape{}, fmt.Errorf("GET %s: %s", s.url, resp.Status)
	}
	return metrics.ParseSFUScrape(resp.Body, time.Now())
}

// coresNow is the SFU's CPU use over the latest interval, -1 if unknown.
func (s *sfuScraper) coresNow() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cores
}

// input summarises the scrapes for the report.
func (s *sfuScraper) input() (report.SFUInput, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first == nil || s.last == nil || len(s.samples) < 2 {
		why := "no scrape succeeded"
		if s.lastErr != nil {
			why = s.lastErr.Error()
		}
		return report.SFUInput{}, fmt.Sprintf("SFU metrics at %s not scraped: %s", s.url, why)
	}
	fwd := s.last.ForwardLatency.Sub(s.first.ForwardLatency)
	in := report.SFUInput{
		Scraped:    true,
		GOMAXPROCS: int(s.last.GOMAXPROCS),
		Samples:    append([]report.SFUSample(nil), s.samples...),
		ForwardLatencyMs: report.P50P99{
			P50: fwd.Quantile(0.5) * 1000,
			P99: fwd.Quantile(0.99) * 1000,
		},
		Dropped: s.last.DroppedSince(*s.first),
	}
	var warn string
	if len(s.last.Missing) > 0 {
		warn = fmt.Sprintf("SFU metrics lack %v", s.last.Missing)
	}
	return in, warn
}

// window is the SFU's CPU over [from, to]: mean cores, and the headroom
// left in its busiest scrape interval, what a ramp step is judged on.
// Scraped is false with fewer than two samples in the window.
func (s *sfuScraper) window(from, to time.Time) report.SFU {
	s.mu.Lock()
	defer s.mu.Unlock()
	var in []report.SFUSample
	for i, smp := range s.samples {
		// The sample just before the window opens its first interval.
		if (smp.At.After(from) || (i+1 < len(s.samples) && s.samples[i+1].At.After(from))) && !smp.At.After(to) {
			in = append(in, smp)
		}
	}
	if len(in) < 2 || s.last == nil {
		return report.SFU{}
	}
	mean, peak := report.CPUCores(in)
	out := report.SFU{Scraped: true, CPUCores: math.Round(mean*1000) / 1000, GOMAXPROCS: int(s.last.GOMAXPROCS)}
	if out.GOMAXPROCS > 0 {
		out.CPUHeadroomPct = math.Round(math.Max(0, (1-peak/float64(out.GOMAXPROCS))*100)*10) / 10
	}
	return out
}
