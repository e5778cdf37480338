package loadbot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/surgertc/surge/loadbot/report"
)

// The selftest is `surge selftest`: three short scenarios against an SFU
// (cmd/surge starts one in-process on loopback) that together say whether
// this build and machine can host rooms: a crowd, a join storm and a weak
// link. Each prints a verdict with its figures; it takes about 30 s.

// Selftest scenario names.
const (
	SelftestCrowd     = "crowd"
	SelftestJoinStorm = "join-storm"
	SelftestWeakLink  = "weak-link"
	SelftestTURN      = "turn" // needs the SFU's embedded TURN server (turn.enabled)
)

// SelftestConfig says where the SFU is.
type SelftestConfig struct {
	URL        string // signaling, e.g. ws://127.0.0.1:7880/rtc
	MetricsURL string // admin /metrics; empty: not scraped
	APIKey     string // empty: the dev key
	APISecret  string
	// Only runs these scenarios (default: all, in the order above).
	Only []string
}

// Verdict is one scenario's outcome.
type Verdict struct {
	Name    string
	Passed  bool
	Figures string // one line: the numbers the verdict rests on
	Why     string // why it failed; empty when passed
	Report  report.Report
}

type selftestScenario struct {
	name  string
	cfg   func(Config) Config
	judge func(*Result) (passed bool, figures, why string)
}

func selftestScenarios() []selftestScenario {
	return []selftestScenario{
		{
			name: SelftestCrowd,
			cfg: func(c Config) Config {
				c.Rooms, c.Publishers, c.Subscribers = 3, 1, 4
				c.Duration, c.JoinRate = 8*time.Second, 30
				return c
			},
			judge: func(res *Result) (bool, string, string) {
				s := res.Report.Summary
				fig := fmt.Sprintf("%d/%d joined, latency p50 %.1f ms p99 %.1f ms, loss %.2f %%, freezes %d, sfu %.2f cores",
					s.Bots.Connected, s.Bots.Target, s.LatencyMs.P50, s.LatencyMs.P99, s.LossPct, s.Freezes.Count, s.SFU.CPUCores)
				return s.SLO.Passed, fig, breachText(s.SLO)
			},
		},
		{
			name: SelftestJoinStorm,
			cfg: func(c Config) Config {
				c.Rooms, c.Publishers, c.Subscribers = 1, 1, 30
				c.Duration, c.JoinRate = 6*time.Second, 50
				return c
			},
			judge: func(res *Result) (bool, string, string) {
				s := res.Report.Summary
				fig := fmt.Sprintf("%d/%d joined at 50/s, join p50 %.0f ms p99 %.0f ms, first frame p99 %.0f ms",
					s.Bots.Connected, s.Bots.Target, s.JoinMs.P50, s.JoinMs.P99, s.TimeToFirstFrameMs.P99)
				if s.Bots.Failed > 0 {
					return false, fig, fmt.Sprintf("every bot must join; failures %v", s.JoinFailures)
				}
				return true, fig, ""
			},
		},
		{
			name: SelftestWeakLink,
			cfg: func(c Config) Config {
				c.Rooms, c.Publishers, c.Subscribers = 1, 1, 2
				c.Duration, c.JoinRate = 10*time.Second, 20
				c.Link = LinkConfig{DownlinkKbps: 400}
				c.ShapedShare = 0.5
				return c
			},
			judge: judgeWeakLink,
		},
		turnJoinStorm(),
	}
}

// judgeWeakLink: the subscriber behind 400 kbps cannot take the f layer
// (1.7 Mbps) or even h (500 kbps) with audio; a congestion-controlled SFU
// gives it q (or h at worst) with little loss. An SFU that forwards f
// regardless shows up as heavy loss and freezes here.
func judgeWeakLink(res *Result) (bool, string, string) {
	var weak *report.Bot
	for ri := range res.Report.Rooms {
		for bi := range res.Report.Rooms[ri].Bots {
			if b := &res.Report.Rooms[ri].Bots[bi]; b.Shaped {
				weak = b
			}
		}
	}
	if weak == nil || weak.JoinFailure != "" {
		why := "the shaped subscriber did not join"
		if weak != nil {
			why += ": " + weak.JoinFailure
		}
		return false, "", why
	}
	fig := fmt.Sprintf("400 kbps subscriber: layers q %.0f%% h %.0f%% f %.0f%%, loss %.2f %%, freezes %d, latency p99 %.0f ms",
		weak.Layers.Q*100, weak.Layers.H*100, weak.Layers.F*100, weak.LossPct, weak.Freezes.Count, weak.LatencyMs.P99)
	switch {
	case weak.Frames == 0:
		return false, fig, "no video frame reached the weak subscriber"
	case weak.Layers.F > 0.2:
		return false, fig, "the SFU kept sending the f layer into a 400 kbps link (no congestion control yet?)"
	case weak.LossPct > 5:
		return false, fig, "loss above 5 %: the SFU sends more than the link carries"
	}
	return true, fig, ""
}

func breachText(v report.Verdict) string {
	if v.Passed {
		return ""
	}
	s := "SLO breached:"
	for _, b := range v.Breaches {
		s += fmt.Sprintf(" %s %.2f > %.2f;", b.Name, b.Actual, b.Threshold)
	}
	return s
}

// Selftest runs the scenarios one after another, printing each verdict to
// out as it comes, and returns them all.
func Selftest(ctx context.Context, sc SelftestConfig, log *slog.Logger, out io.Writer) ([]Verdict, error) {
	want := map[string]bool{}
	for _, n := range sc.Only {
		want[n] = true
	}
	var verdicts []Verdict
	for _, s := range selftestScenarios() {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		cfg := DefaultConfig()
		cfg.URL, cfg.SFUMetricsURL = sc.URL, sc.MetricsURL
		if sc.APIKey != "" {
			cfg.APIKey, cfg.APISecret = sc.APIKey, sc.APISecret
		}
		cfg.InstanceID = "selftest"
		cfg.RoomPrefix = "selftest-" + s.name
		cfg.Grace = 5 * time.Second
		cfg.JoinTimeout = 5 * time.Second
		cfg = s.cfg(cfg)
		r, err := NewRunner(cfg, WithLogger(log))
		if err != nil {
			return verdicts, err
		}
		res, err := r.Run(ctx)
		if err != nil {
			return verdicts, fmt.Errorf("selftest %s: %w", s.name, err)
		}
		v := Verdict{Name: s.name, Report: res.Report}
		v.Passed, v.Figures, v.Why = s.judge(res)
		if res.Report.Partial {
			v.Passed, v.Why = false, "interrupted"
		}
		verdicts = append(verdicts, v)
		if out != nil {
			word := "PASS"
			if !v.Passed {
				word = "FAIL"
			}
			fmt.Fprintf(out, "%s  %-10s  %s\n", word, v.Name, v.Figures)
			if v.Why != "" {
				fmt.Fprintf(out, "      %-10s  %s\n", "", v.Why)
			}
		}
	}
	return verdicts, nil
}
