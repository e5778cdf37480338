package loadbot

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// AgentConfig says where an agent finds its coordinator.
type AgentConfig struct {
	Redis string
	RunID string
	// ID names the agent and prefixes its bots' identities; distinct
	// per agent (default: random).
	ID string
	// Host is shown in reports (default: the hostname); HostID decides
	// which agents share a clock (default: the kernel's boot id).
	Host, HostID string
	// HeartbeatInterval and HeartbeatTTL: the agent refreshes its
	// heartbeat every interval; the coordinator declares it lost once the
	// TTL passes without one.
	HeartbeatInterval, HeartbeatTTL time.Duration
	// WaitTimeout bounds the wait for the coordinator's assignment and
	// start.
	WaitTimeout time.Duration
}

// DefaultAgentConfig fills everything but Redis and RunID.
func DefaultAgentConfig() AgentConfig {
	h, _ := os.Hostname()
	return AgentConfig{
		Redis: "redis://127.0.0.1:6379/0", ID: RandomInstanceID(), Host: h, HostID: HostID(),
		HeartbeatInterval: 500 * time.Millisecond, HeartbeatTTL: 3 * time.Second, WaitTimeout: 2 * time.Minute,
	}
}

// RunAgent registers with the coordinator of ac.RunID, runs the share of
// the scenario it is given, starting at the coordinated moment, and
// delivers its report. opts are the Runner's (logger, metrics, progress).
func RunAgent(ctx context.Context, ac AgentConfig, opts ...Option) (*Result, error) {
	d := DefaultAgentConfig()
	if ac.ID == "" {
		ac.ID = d.ID
	}
	if ac.Host == "" {
		ac.Host = d.Host
	}
	if ac.HostID == "" {
		ac.HostID = d.HostID
	}
	if ac.HeartbeatInterval <= 0 {
		ac.HeartbeatInterval = d.HeartbeatInterval
	}
	if ac.HeartbeatTTL <= ac.HeartbeatInterval {
		ac.HeartbeatTTL = max(d.HeartbeatTTL, 3*ac.HeartbeatInterval)
	}
	if ac.WaitTimeout <= 0 {
		ac.WaitTimeout = d.WaitTimeout
	}
	if ac.RunID == "" {
		return nil, fmt.Errorf("%w: the agent needs the coordinator's run id", ErrConfig)
	}
	c, err := dialRedis(ctx, ac.Redis)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	k := keysFor(ac.RunID)
	ttl := ac.WaitTimeout + time.Hour

	// The run ends early when the coordinator says stop (it was
	// interrupted); the heartbeat loop watches for that.
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	hbCtx, stopHB := context.WithCancel(context.Background())
	var hbWG sync.WaitGroup
	defer func() { stopHB(); hbWG.Wait() }()
	beat := func() {
		c.Set(hbCtx, k.heartbeat(ac.ID), time.Now().UnixMilli(), ac.HeartbeatTTL)
		if n, err := c.Exists(hbCtx, k.stop()).Result(); err == nil && n > 0 {
			cancelRun()
		}
	}
	beat()
	hbWG.Add(1)
	go func() {
		defer hbWG.Done()
		t := time.NewTicker(ac.HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				beat()
			}
		}
	}()

	off, unc, err := measureClock(ctx, c, 8)
	if err != nil {
		return nil, fmt.Errorf("%w: measuring the clock against Redis: %v", ErrCoordination, err)
	}
	hello := agentHello{AgentClock: AgentClock{ID: ac.ID, Host: ac.Host, HostID: ac.HostID, Offset: off, Uncertainty: unc}, PID: os.Getpid()}
	if err := pushJSON(ctx, c, k.agents(), hello, ttl); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCoordination, err)
	}

	assign, err := waitControl(ctx, c, k, ac, ctlAssign)
	if err != nil {
		return nil, err
	}
	raw, err := c.Get(ctx, k.scenario()).Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: reading the scenario: %v", ErrCoordination, err)
	}
	var sc coordScenario
	if err := json.Unmarshal(raw, &sc); err != nil || sc.Protocol != coordProtocol {
		return nil, fmt.Errorf("%w: the coordinator speaks protocol %d, this agent %d (%v)", ErrCoordination, sc.Protocol, coordProtocol, err)
	}
	cfg := sc.Config
	cfg.InstanceID = ac.ID
	cfg.SFUMetricsURL = "" // the coordinator scrapes the SFU, once for all
	cfg.Share = assign.Share
	deliver := func(res agentResult) {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res.ID = ac.ID
		if err := pushJSON(dctx, c, k.results(), res, ttl); err != nil {
			fmt.Fprintf(os.Stderr, "loadbot agent: delivering the result: %v\n", err)
		}
	}
	r, err := NewRunner(cfg, append(opts, WithRoomClocks(assign.Clocks))...)
	if err != nil {
		deliver(agentResult{Error: err.Error()})
		return nil, err
	}
	if err := pushJSON(ctx, c, k.ready(), ac.ID, ttl); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCoordination, err)
	}
	start, err := waitControl(ctx, c, k, ac, ctlStart)
	if err != nil {
		return nil, err
	}
	// Start at the coordinated moment: Redis's clock, less our offset.
	if !sleepUntil(runCtx, time.Unix(0, start.StartAt).Add(-off)) {
		deliver(agentResult{Error: "stopped before the start"})
		return nil, runCtx.Err()
	}
	res, err := r.Run(runCtx)
	out := agentResult{}
	if res != nil {
		out.Report, out.Dropped = &res.Report, res.Dropped
	}
	if err != nil {
		out.Error = err.Error()
	}
	deliver(out)
	return res, err
}

// waitControl waits for the coordinator's next message, which must be of
// type want (an abort ends the agent with the coordinator's reason).
func waitControl(ctx context.Context, c *redis.Client, k coordKeys, ac AgentConfig, want string) (ctlMessage, error) {
	deadline := time.Now().Add(ac.WaitTimeout)
	for time.Now().Before(deadline) {
		var m ctlMessage
		got, err := popJSON(ctx, c, k.control(ac.ID), time.Second, &m)
		if err != nil {
			if ctx.Err() != nil {
				return m, ctx.Err()
			}
			return m, fmt.Errorf("%w: %v", ErrCoordination, err)
		}
		if !got {
			continue
		}
		switch m.Type {
		case want:
			return m, nil
		case ctlAbort:
			return m, fmt.Errorf("%w: the coordinator aborted: %s", ErrCoordination, m.Reason)
		default:
			return m, fmt.Errorf("%w: expected %s from the coordinator, got %s", ErrCoordination, want, m.Type)
		}
	}
	return ctlMessage{}, fmt.Errorf("%w: no %s from the coordinator of run %q within %s", ErrCoordination, want, ac.RunID, ac.WaitTimeout)
}
