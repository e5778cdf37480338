package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/surgertc/surge/loadbot"
)

func newCoordinateCmd(stdout, stderr io.Writer) *cobra.Command {
	cc := loadbot.DefaultCoordinatorConfig()
	cmd := &cobra.Command{
		Use:   "coordinate",
		Short: "Run one scenario over several loadbot agents (one host or many) and report it as one",
		Long: `coordinate writes the scenario to Redis under --run, waits for --agents agents
(loadbot agent --run with the same id) to register, deals the bots out (--split
rooms: every room whole to one agent; bots: each room's subscribers spread over
all agents), starts them all at one moment once every agent is ready, scrapes
the SFU itself, and merges the agents' reports. An agent that dies mid-run is
listed as lost with its bots and the command exits 1.`,
		Example: `  loadbot coordinate --redis redis://10.0.0.5:6379 --run cap-1 --agents 3 --rooms 30 --subscribers 20 --json run.json
  loadbot agent --redis redis://10.0.0.5:6379 --run cap-1     # on each of three hosts`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			cfg, err := loadConfig(fs)
			if err != nil {
				return err
			}
			verbose, _ := fs.GetBool("verbose")
			human := humanOut(fs, stdout, stderr)
			res, err := loadbot.Coordinate(cmd.Context(), cfg, cc, logger(stderr, verbose))
			return finish(fs, stdout, human, res, err, cmd.Context().Err() != nil)
		},
	}
	addScenarioFlags(cmd.Flags())
	fs := cmd.Flags()
	fs.StringVar(&cc.Redis, "redis", cc.Redis, "Redis where coordinator and agents meet (the SFU cluster's will do)")
	fs.StringVar(&cc.RunID, "run", "", "run id; agents give the same (required)")
	fs.IntVar(&cc.Agents, "agents", cc.Agents, "agents to wait for")
	fs.StringVar(&cc.Split, "split", "", "how bots are dealt: rooms or bots (default: rooms if rooms >= agents)")
	fs.DurationVar(&cc.RegisterTimeout, "register-timeout", cc.RegisterTimeout, "how long to wait for the agents to register and be ready")
	fs.DurationVar(&cc.HeartbeatTTL, "heartbeat-ttl", cc.HeartbeatTTL, "an agent silent this long is lost")
	fs.DurationVar(&cc.MaxClockUncertainty, "max-clock-uncertainty", cc.MaxClockUncertainty,
		"latency across hosts uses the measured clock offset only if it is this exact (0: never)")
	_ = cmd.MarkFlagRequired("run")
	return cmd
}

func newAgentCmd(stdout, stderr io.Writer) *cobra.Command {
	ac := loadbot.DefaultAgentConfig()
	ac.ID = ""
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a coordinator's share of a scenario (see loadbot coordinate)",
		Long: `agent registers with the coordinator of --run in --redis, measures its clock's
offset against Redis, waits for its share of the scenario, starts it at the
coordinated moment and delivers its report. The scenario comes from the
coordinator; the agent's flags only say where to meet and how to be seen.`,
		Example: `  loadbot agent --redis redis://10.0.0.5:6379 --run cap-1 --metrics-addr :9100`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			verbose, _ := fs.GetBool("verbose")
			if ac.ID == "" {
				ac.ID = loadbot.RandomInstanceID()
			}
			opts := []loadbot.Option{loadbot.WithLogger(logger(stderr, verbose)), loadbot.WithProgress(stderr, isTerminal(stderr))}
			if addr, _ := fs.GetString("metrics-addr"); addr != "" {
				stopMetrics, m, err := serveMetrics(addr, ac.ID, stderr)
				if err != nil {
					return err
				}
				defer stopMetrics()
				opts = append(opts, loadbot.WithMetrics(m))
			}
			fmt.Fprintf(stderr, "loadbot agent %s: waiting for run %q\n", ac.ID, ac.RunID)
			res, err := loadbot.RunAgent(cmd.Context(), ac, opts...)
			if res != nil {
				s := res.Report.Summary
				fmt.Fprintf(stdout, "agent %s: %d/%d bots connected, %d failed; report delivered to the coordinator\n",
					ac.ID, s.Bots.Connected, s.Bots.Target, s.Bots.Failed)
			}
			if err != nil {
				if errors.Is(err, loadbot.ErrConfig) {
					return err
				}
				return &exitError{code: exitFailed, err: err}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&ac.Redis, "redis", ac.Redis, "Redis where coordinator and agents meet")
	fs.StringVar(&ac.RunID, "run", "", "the coordinator's run id (required)")
	fs.StringVar(&ac.ID, "id", "", "agent id, distinct per agent; prefixes its bots' identities (default: random)")
	fs.StringVar(&ac.Host, "host", ac.Host, "host name shown in reports")
	fs.StringVar(&ac.HostID, "host-id", ac.HostID, "agents with equal host ids share a clock (default: the kernel's boot id)")
	fs.DurationVar(&ac.HeartbeatInterval, "heartbeat", ac.HeartbeatInterval, "heartbeat interval")
	fs.DurationVar(&ac.WaitTimeout, "wait", ac.WaitTimeout, "how long to wait for the coordinator's assignment and start")
	fs.String("metrics-addr", "", "serve the agent's Prometheus metrics on this address")
	fs.BoolP("verbose", "v", false, "log every join failure")
	_ = cmd.MarkFlagRequired("run")
	return cmd
}
