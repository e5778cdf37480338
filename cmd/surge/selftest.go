package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/surgertc/surge/loadbot"
	"github.com/surgertc/surge/sfu"
)

// newSelftestCmd is `surge selftest`: an in-process SFU on free loopback
// ports, loaded by loadbot's crowd, join-storm and weak-link scenarios. It
// answers "does this build work on this machine" in about 30 s, and exits
// non-zero when any scenario fails.
func newSelftestCmd() *cobra.Command {
	var only []string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "selftest",
		Short: "Run an in-process SFU under load and check it (about 30 s)",
		Long: `selftest starts an SFU on free loopback ports and runs four scenarios against it:
  crowd       3 rooms × (1 publisher + 4 subscribers): the SLOs hold
  join-storm  30 subscribers joining one room at 50/s: every one joins
  weak-link   a subscriber behind 400 kbps: gets a lower simulcast layer with low loss
  turn        20 subscribers joining at 40/s, all through the embedded TURN server: every one joins relayed
It prints a verdict per scenario with its figures and exits 1 if any failed.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true, // a failed scenario is not a usage mistake
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			level := slog.LevelError
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			cfg := sfu.DefaultConfig()
			cfg.ListenAddr, cfg.AdminAddr, cfg.RTC.UDPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
			cfg.TURN.Enabled = true // for the turn scenario
			cfg.TURN.UDPAddr, cfg.TURN.TCPAddr, cfg.TURN.TLSAddr = "127.0.0.1:0", "127.0.0.1:0", ""
			cfg.DrainTimeout = 2 * time.Second
			srv, err := sfu.NewServer(cfg, sfu.WithLogger(log))
			if err != nil {
				return err
			}
			if err := srv.Start(); err != nil {
				return fmt.Errorf("start in-process SFU: %w", err)
			}
			defer srv.Close()
			fmt.Fprintf(out, "selftest: SFU at %s (admin %s)\n", srv.URL(), srv.AdminURL())
			start := time.Now()
			verdicts, err := loadbot.Selftest(cmd.Context(), loadbot.SelftestConfig{
				URL: srv.URL(), MetricsURL: srv.AdminURL() + "/metrics", Only: only,
			}, log, out)
			if err != nil {
				return err
			}
			return selftestOutcome(out, verdicts, time.Since(start))
		},
	}
	cmd.Flags().StringSliceVar(&only, "only", nil, "run only these scenarios: crowd, join-storm, weak-link, turn")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log the SFU and the bots")
	return cmd
}

func selftestOutcome(out io.Writer, verdicts []loadbot.Verdict, took time.Duration) error {
	failed := 0
	for _, v := range verdicts {
		if !v.Passed {
			failed++
		}
	}
	if len(verdicts) == 0 {
		return fmt.Errorf("selftest ran no scenario")
	}
	if failed > 0 {
		return fmt.Errorf("selftest: %d of %d scenarios failed (%.0fs)", failed, len(verdicts), took.Seconds())
	}
	fmt.Fprintf(out, "selftest: all %d scenarios passed (%.0fs)\n", len(verdicts), took.Seconds())
	return nil
}
