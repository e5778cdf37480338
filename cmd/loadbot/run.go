package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/surgertc/surge/loadbot"
	"github.com/surgertc/surge/loadbot/report"
	"github.com/surgertc/surge/metrics"
)

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Hold a load scenario for --duration and report",
		Example: `  loadbot run --rooms 4 --publishers 1 --subscribers 10 --duration 60s --json report.json
  loadbot run --config configs/loadbot.yaml --html report.html
  loadbot run --subscribers 20 --shaped-share 0.25 --downlink-kbps 400`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLoad(cmd, stdout, stderr, nil)
		},
	}
	addScenarioFlags(cmd.Flags())
	return cmd
}

func newRampCmd(stdout, stderr io.Writer) *cobra.Command {
	var rc loadbot.RampConfig
	cmd := &cobra.Command{
		Use:   "ramp",
		Short: "Add load step by step until an SLO breaks; report the capacity",
		Example: `  loadbot ramp --rooms 1 --subscribers 10 --step-subscribers 10 --step-duration 20s --max-steps 10
  loadbot ramp --rooms 1 --subscribers 5 --step-rooms 1 --json ramp.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLoad(cmd, stdout, stderr, &rc)
		},
	}
	addScenarioFlags(cmd.Flags())
	fs := cmd.Flags()
	fs.IntVar(&rc.StepRooms, "step-rooms", 0, "rooms added per step")
	fs.IntVar(&rc.StepSubscribers, "step-subscribers", 0, "subscribers added per room per step")
	fs.DurationVar(&rc.StepDuration, "step-duration", 20*time.Second, "measured time per step, after its joins")
	fs.IntVar(&rc.MaxSteps, "max-steps", 10, "stop after this many steps")
	fs.IntVar(&rc.MaxBots, "max-bots", 0, fmt.Sprintf("stop before exceeding this many bots (default and limit %d)", loadbot.MaxBotsPerProcess))
	return cmd
}

// runLoad runs a scenario (rc nil) or a ramp and writes the reports.
func runLoad(cmd *cobra.Command, stdout, stderr io.Writer, rc *loadbot.RampConfig) error {
	fs := cmd.Flags()
	cfg, err := loadConfig(fs)
	if err != nil {
		return err
	}
	verbose, _ := fs.GetBool("verbose")
	opts := []loadbot.Option{
		loadbot.WithLogger(logger(stderr, verbose)),
		loadbot.WithProgress(stdout, isTerminal(stdout)),
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = loadbot.RandomInstanceID()
	}
	if addr, _ := fs.GetString("metrics-addr"); addr != "" {
		stopMetrics, m, err := serveMetrics(addr, cfg.InstanceID, stderr)
		if err != nil {
			return err
		}
		defer stopMetrics()
		opts = append(opts, loadbot.WithMetrics(m))
	}
	r, err := loadbot.NewRunner(cfg, opts...)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	var res *loadbot.Result
	if rc != nil {
		res, err = r.Ramp(ctx, *rc)
	} else {
		res, err = r.Run(ctx)
	}
	if res == nil {
		return &exitError{code: exitFailed, err: err}
	}
	if werr := writeReports(fs, stdout, res); werr != nil {
		return &exitError{code: exitFailed, err: werr}
	}
	switch {
	case err != nil:
		return &exitError{code: exitFailed, err: err}
	case !res.Report.Summary.SLO.Passed:
		return &exitError{code: exitSLOBreached}
	case res.Report.Partial && ctx.Err() != nil:
		return &exitError{code: exitInterrupted, err: errors.New("interrupted: the report is partial")}
	}
	return nil
}

type flagGetter interface {
	GetString(string) (string, error)
}

// writeReports prints the table and writes --json and --html.
func writeReports(fs flagGetter, stdout io.Writer, res *loadbot.Result) error {
	rep := &res.Report
	if err := report.WriteTable(stdout, rep); err != nil {
		return err
	}
	if len(res.Dropped) > 0 {
		keys := make([]string, 0, len(res.Dropped))
		for k := range res.Dropped {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprint(stdout, "sessions ended early:")
		for _, k := range keys {
			fmt.Fprintf(stdout, " %s %d", k, res.Dropped[k])
		}
		fmt.Fprintln(stdout)
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	if path, _ := fs.GetString("json"); path != "" {
		if err := writeFile(path, stdout, func(w io.Writer) error { return report.WriteJSON(w, rep) }); err != nil {
			return fmt.Errorf("write JSON report: %w", err)
		}
	}
	if path, _ := fs.GetString("html"); path != "" {
		if err := writeFile(path, stdout, func(w io.Writer) error { return report.WriteHTML(w, rep) }); err != nil {
			return fmt.Errorf("write HTML report: %w", err)
		}
	}
	return nil
}

func writeFile(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		return write(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// serveMetrics exports loadbot's metrics for Prometheus, labelled with the
// instance id so that several processes add up on one dashboard.
func serveMetrics(addr, instance string, stderr io.Writer) (func(), *metrics.Loadbot, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.NewLoadbot(reg, prometheus.Labels{"instance_id": instance})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics-addr: %w", err)
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
	}, m, nil
}
