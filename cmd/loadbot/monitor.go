package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/surgertc/surge/loadbot"
	"github.com/surgertc/surge/metrics"
)

// exitProbeFailed: a probe failed at a join stage (--once).
const exitProbeFailed = 4

func newMonitorCmd(stdout, stderr io.Writer) *cobra.Command {
	mc := loadbot.DefaultMonitorConfig()
	var once bool
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Probe a deployment continuously: a publisher and a subscriber join, measure and leave, every --interval",
		Long: `monitor runs a probe pair (one publisher, one subscriber) in the probe room
every --interval: it times the join stages (ws_connect, join, ice, first_frame),
then measures latency, loss, jitter, freezes and the layer received for
--window, and leaves. Each probe is one JSON line on stdout and updates the
loadbot_probe_* metrics (--metrics-addr); configs/loadbot-alerts.yml has alert
rules for them. The bots use the STUN/TURN servers the SFU hands out in joined.

--once runs one probe and exits: 0 when it passed, 3 when it joined but broke
an SLO, 4 when a stage failed — for cron jobs and deploy pipelines.`,
		Example: `  loadbot monitor --url wss://sfu.example.com --api-key K --api-secret S --metrics-addr :9101
  loadbot monitor --url ws://127.0.0.1:7880 --once --slo-p99-latency-ms 100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			cfg, err := loadConfig(fs)
			if err != nil {
				return err
			}
			if once {
				mc.Iterations = 1
			}
			verbose, _ := fs.GetBool("verbose")
			log := logger(stderr, verbose)
			reg := prometheus.NewRegistry()
			pm := metrics.NewProbe(reg, nil)
			if addr, _ := fs.GetString("metrics-addr"); addr != "" {
				reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
				stop, err := serveRegistry(addr, reg, stderr)
				if err != nil {
					return err
				}
				defer stop()
			}
			mo, err := loadbot.NewMonitor(cfg, mc, log, pm, stdout)
			if err != nil {
				return err
			}
			last, err := mo.Run(cmd.Context())
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			if !once {
				return nil
			}
			switch last.Result {
			case metrics.ProbeFailed:
				return &exitError{code: exitProbeFailed, err: fmt.Errorf("probe failed at %s (%s, %s)", last.FailedStage, last.Reason, last.Bot)}
			case metrics.ProbeSLOBreached:
				return &exitError{code: exitSLOBreached, err: fmt.Errorf("probe breached the SLO: %s", breachNames(last))}
			}
			return nil
		},
	}
	d := loadbot.DefaultConfig()
	fs := cmd.Flags()
	fs.String("config", "", "YAML scenario file (its SFU, key, media and SLO keys are used); flags override it")
	fs.String("url", d.URL, "SFU signaling URL (a URL without a path gets /rtc)")
	fs.String("api-key", "", "API key to mint probe tokens with (default: the SFU's built-in dev key)")
	fs.String("api-secret", "", "secret of --api-key")
	fs.String("instance-id", "", "prefix of the probe bots' identities (default: monitor-<random>)")
	fs.Bool("audio", d.Audio, "the probe publisher sends audio")
	fs.Bool("video", d.Video, "the probe publisher sends video")
	fs.Bool("simulcast", d.Simulcast, "the probe publisher sends three simulcast layers")
	fs.Duration("join-timeout", 10*time.Second, "max time from dial to first media per probe bot")
	fs.Duration("grace", 5*time.Second, "time allowed for the probe bots to leave")
	fs.String("srtp", d.SRTP, "SRTP profiles offered: browser, gcm, all")
	fs.String("sfu-metrics", "", "SFU admin /metrics URL, for the CPU headroom SLO (empty: off)")
	fs.Float64("slo-p99-latency-ms", d.SLO.P99LatencyMs, "SLO: max p99 one-way latency (0: unchecked)")
	fs.Float64("slo-loss-pct", d.SLO.LossPct, "SLO: max loss after retransmission")
	fs.Float64("slo-join-failure-pct", d.SLO.JoinFailurePct, "SLO: max failed joins")
	fs.Float64("slo-freezes-per-min", 0, "SLO: max video freezes per minute (0: unchecked; one freeze in a short window is a high rate)")
	addSLOFlags(fs, d.SLO)
	fs.StringVar(&mc.Room, "room", mc.Room, "probe room prefix: probes join <room>-0")
	fs.DurationVar(&mc.Interval, "interval", mc.Interval, "time between probe starts")
	fs.DurationVar(&mc.Window, "window", mc.Window, "media measured per probe once both bots are in")
	fs.IntVar(&mc.Iterations, "iterations", 0, "stop after this many probes (0: until SIGINT/SIGTERM)")
	fs.BoolVar(&once, "once", false, "run one probe and exit non-zero if it failed (4) or broke an SLO (3)")
	fs.String("metrics-addr", "", "serve loadbot_probe_* metrics on this address, e.g. 127.0.0.1:9101")
	fs.BoolP("verbose", "v", false, "debug logging")
	return cmd
}

func breachNames(pr loadbot.ProbeResult) string {
	s := ""
	for i, b := range pr.SLO.Breaches {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %.2f > %.2f", b.Name, b.Actual, b.Threshold)
	}
	return s
}

// serveRegistry serves reg's /metrics on addr until the returned stop.
func serveRegistry(addr string, reg *prometheus.Registry, stderr io.Writer) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// Profiles of loadbot itself: its cost per bot is part of what a
	// capacity planner buys (scripts/loadbot-cost.sh --profile).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(stderr, "loadbot: metrics server:", err)
		}
	}()
	fmt.Fprintf(stderr, "loadbot: metrics on http://%s/metrics\n", ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
