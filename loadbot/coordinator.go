package loadbot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/surgertc/surge/loadbot/report"
)

// CoordinatorConfig says where agents meet and how many to wait for.
type CoordinatorConfig struct {
	Redis  string // redis://host:port/db
	RunID  string // names the run's keys; agents give the same
	Agents int
	// Split is SplitRooms or SplitBots; empty: rooms when there are at
	// least as many rooms as agents, bots otherwise.
	Split string
	// RegisterTimeout bounds the wait for agents to register and be ready.
	RegisterTimeout time.Duration
	// HeartbeatTTL is how long an agent may be silent before it is lost.
	HeartbeatTTL time.Duration
	// StartDelay is between the barrier and the start, so the start
	// message reaches every agent before the moment it names.
	StartDelay time.Duration
	// MaxClockUncertainty bounds how inexact a measured offset between
	// two hosts may be for latency across them (0: never across hosts).
	MaxClockUncertainty time.Duration
}

// DefaultCoordinatorConfig waits a minute for agents.
func DefaultCoordinatorConfig() CoordinatorConfig {
	return CoordinatorConfig{
		Redis: "redis://127.0.0.1:6379/0", Agents: 2,
		RegisterTimeout: time.Minute, HeartbeatTTL: 3 * time.Second, StartDelay: time.Second,
		MaxClockUncertainty: 2 * time.Millisecond,
	}
}

func (cc *CoordinatorConfig) validate(cfg Config) error {
	switch {
	case cc.RunID == "" || strings.ContainsAny(cc.RunID, " :{}"):
		return fmt.Errorf("%w: a run id without spaces, colons or braces is needed", ErrConfig)
	case cc.Agents < 1 || cc.Agents > 256:
		return fmt.Errorf("%w: agents must be in [1, 256]", ErrConfig)
	case cc.RegisterTimeout <= 0 || cc.HeartbeatTTL <= 0 || cc.StartDelay < 0:
		return fmt.Errorf("%w: register timeout and heartbeat TTL must be positive", ErrConfig)
	}
	if cc.Split == "" {
		cc.Split = SplitRooms
		if cfg.Rooms < cc.Agents {
			cc.Split = SplitBots
		}
	}
	if cc.Split != SplitRooms && cc.Split != SplitBots {
		return fmt.Errorf("%w: split must be %q or %q", ErrConfig, SplitRooms, SplitBots)
	}
	return nil
}

// Coordinate runs cfg over cc.Agents agents (loadbot agent) and merges
// their reports into one. It scrapes the SFU itself, once for all. An agent
// that dies mid-run is reported as lost, with its bots; the error is then
// ErrCoordination alongside a report of the rest.
func Coordinate(ctx context.Context, cfg Config, cc CoordinatorConfig, log *slog.Logger) (*Result, error) {
	if log == nil {
		log = slog.Default()
	}
	var err error
	if cfg.URL, err = NormalizeURL(cfg.URL); err != nil {
		return nil, err
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = RandomInstanceID()
	}
	if cfg.RoomPrefix == "" {
		cfg.RoomPrefix = "load"
	}
	if err := cfg.validate(MaxBotsPerProcess * max(cc.Agents, 1)); err != nil {
		return nil, err
	}
	if err := cc.validate(cfg); err != nil {
		return nil, err
	}
	c, err := dialRedis(ctx, cc.Redis)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	k := keysFor(cc.RunID)
	ttl := cc.RegisterTimeout + cfg.Duration + cfg.Grace + 10*time.Minute
	sc, _ := json.Marshal(coordScenario{Protocol: coordProtocol, Config: cfg})
	ok, err := c.SetNX(ctx, k.scenario(), sc, ttl).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCoordination, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: run id %q is in use in this Redis; pick another", ErrCoordination, cc.RunID)
	}
	co := &coordinator{c: c, k: k, cfg: cfg, cc: cc, log: log, ttl: ttl}
	defer co.cleanup()
	return co.run(ctx)
}

type coordinator struct {
	c   *redis.Client
	k   coordKeys
	cfg Config
	cc  CoordinatorConfig
	log *slog.Logger
	ttl time.Duration

	agents []agentHello
}

func (co *coordinator) run(ctx context.Context) (*Result, error) {
	if err := co.register(ctx); err != nil {
		co.abortAll(err.Error())
		return nil, err
	}
	if err := co.barrier(ctx); err != nil {
		co.abortAll(err.Error())
		return nil, err
	}
	startAt, err := co.start(ctx)
	if err != nil {
		co.abortAll(err.Error())
		return nil, err
	}
	var scraper *sfuScraper
	bg, stopBG := context.WithCancel(context.Background())
	scraped := make(chan struct{})
	if co.cfg.SFUMetricsURL != "" {
		scraper = newSFUScraper(co.cfg.SFUMetricsURL, co.cfg.ScrapeInterval)
		go func() {
			defer close(scraped)
			sleepUntil(bg, startAt)
			scraper.run(bg, max(co.cfg.ScrapeInterval, 100*time.Millisecond))
		}()
	} else {
		close(scraped)
	}
	results, lost := co.collect(ctx, startAt)
	stopBG()
	<-scraped
	return co.merge(results, lost, scraper)
}

// register waits for cc.Agents hellos; later ones are turned away.
func (co *coordinator) register(ctx context.Context) error {
	deadline := time.Now().Add(co.cc.RegisterTimeout)
	for {
		raw, err := co.c.LRange(ctx, co.k.agents(), 0, -1).Result()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCoordination, err)
		}
		if len(raw) >= co.cc.Agents {
			for i, r := range raw {
				var h agentHello
				if err := json.Unmarshal([]byte(r), &h); err != nil {
					return fmt.Errorf("%w: agent hello: %v", ErrCoordination, err)
				}
				if i >= co.cc.Agents {
					_ = pushJSON(ctx, co.c, co.k.control(h.ID), ctlMessage{Type: ctlAbort, Reason: "the run has its agents already"}, co.ttl)
					continue
				}
				co.agents = append(co.agents, h)
			}
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %d of %d agents registered within %s (run %q)", ErrCoordination, len(raw), co.cc.Agents, co.cc.RegisterTimeout, co.cc.RunID)
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
	clocks := make([]AgentClock, len(co.agents))
	for i, a := range co.agents {
		clocks[i] = a.AgentClock
	}
	for i, a := range co.agents {
		sh := Share{Index: i, Of: len(co.agents), Split: co.cc.Split}
		m := ctlMessage{Type: ctlAssign, Share: sh,
			Clocks: PlanClocks(clocks, i, co.cfg.Rooms, sh, co.cfg.RoomPrefix, co.cc.MaxClockUncertainty)}
		if err := pushJSON(ctx, co.c, co.k.control(a.ID), m, co.ttl); err != nil {
			return fmt.Errorf("%w: %v", ErrCoordination, err)
		}
		co.log.Info("agent assigned", "agent", a.ID, "host", a.Host, "share", i, "bots", sh.Bots(co.load()))
	}
	return nil
}

func (co *coordinator) load() report.Load {
	return report.Load{Rooms: co.cfg.Rooms, Publishers: co.cfg.Publishers, Subscribers: co.cfg.Subscribers}
}

// barrier waits until every agent has built its share and said ready.
func (co *coordinator) barrier(ctx context.Context) error {
	deadline := time.Now().Add(co.cc.RegisterTimeout)
	ready := map[string]bool{}
	for len(ready) < len(co.agents) {
		var id string
		got, err := popJSON(ctx, co.c, co.k.ready(), time.Second, &id)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCoordination, err)
		}
		if got {
			ready[id] = true
			continue
		}
		for _, a := range co.agents {
			if !ready[a.ID] && !co.alive(ctx, a.ID) {
				return fmt.Errorf("%w: agent %s on %s was lost before the start", ErrCoordination, a.ID, a.Host)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %d of %d agents ready within %s", ErrCoordination, len(ready), len(co.agents), co.cc.RegisterTimeout)
		}
	}
	return nil
}

// start names one moment on Redis's clock and returns it on ours.
func (co *coordinator) start(ctx context.Context) (time.Time, error) {
	now, err := co.c.Time(ctx).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %v", ErrCoordination, err)
	}
	at := now.Add(co.cc.StartDelay)
	for _, a := range co.agents {
		if err := pushJSON(ctx, co.c, co.k.control(a.ID), ctlMessage{Type: ctlStart, StartAt: at.UnixNano()}, co.ttl); err != nil {
			return time.Time{}, fmt.Errorf("%w: %v", ErrCoordination, err)
		}
	}
	off, _, err := measureClock(ctx, co.c, 3)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %v", ErrCoordination, err)
	}
	return at.Add(-off), nil
}

// collect waits for every agent's result until each has delivered, been
// lost, or the run's bound has passed.
func (co *coordinator) collect(ctx context.Context, startAt time.Time) (map[string]agentResult, map[string]string) {
	results := map[string]agentResult{}
	lost := map[string]string{}
	deadline := startAt.Add(co.cfg.Duration + co.cfg.Grace + co.cc.HeartbeatTTL + 15*time.Second)
	pending := func() int { return len(co.agents) - len(results) - len(lost) }
	stopped := false
	for pending() > 0 {
		if ctx.Err() != nil && !stopped {
			// Interrupted: ask the agents to end now and deliver what
			// they have, rather than run out their duration.
			stopped = true
			_ = co.c.Set(context.WithoutCancel(ctx), co.k.stop(), 1, co.ttl).Err()
			deadline = minTime(deadline, time.Now().Add(co.cfg.Grace+2*co.cc.HeartbeatTTL+5*time.Second))
			co.log.Warn("interrupted: agents asked to stop")
		}
		var res agentResult
		got, err := popJSON(context.WithoutCancel(ctx), co.c, co.k.results(), time.Second, &res)
		if err != nil && !errors.Is(err, context.Canceled) {
			co.log.Warn("reading results", "err", err)
		}
		if got {
			results[res.ID] = res
			continue
		}
		for _, a := range co.agents {
			_, done := results[a.ID]
			if _, gone := lost[a.ID]; done || gone || co.alive(ctx, a.ID) {
				continue
			}
			// A result pushed just before the heartbeat's last expiry
			// may still be queued: read the queue once more first.
			if got, _ := tryPopJSON(context.WithoutCancel(ctx), co.c, co.k.results(), &res); got {
				results[res.ID] = res
				continue
			}
			lost[a.ID] = fmt.Sprintf("heartbeat stopped %s into the run", time.Since(startAt).Round(100*time.Millisecond))
			co.log.Warn("agent lost", "agent", a.ID, "host", a.Host)
		}
		if time.Now().After(deadline) {
			for _, a := range co.agents {
				if _, done := results[a.ID]; !done && lost[a.ID] == "" {
					lost[a.ID] = "no result by the run's end"
				}
			}
		}
	}
	return results, lost
}

func (co *coordinator) alive(ctx context.Context, id string) bool {
	n, err := co.c.Exists(context.WithoutCancel(ctx), co.k.heartbeat(id)).Result()
	return err != nil || n > 0 // an unreadable Redis is no proof of death
}

// merge builds the one report: the agents' reports merged, lost and failed
// agents added with their bots, the coordinator's SFU scrape, and the
// scenario as given.
func (co *coordinator) merge(results map[string]agentResult, lost map[string]string, scraper *sfuScraper) (*Result, error) {
	var reps []report.Report
	var names []string
	res := &Result{Dropped: map[string]int{}}
	hosts := map[string]string{}
	for _, a := range co.agents {
		hosts[a.ID] = a.Host
		if r, ok := results[a.ID]; ok && r.Report != nil {
			reps = append(reps, *r.Report)
			names = append(names, a.ID)
			for k, v := range r.Dropped {
				res.Dropped[k] += v
			}
		}
	}
	var merged report.Report
	if len(reps) > 0 {
		m, err := report.Merge(reps, names)
		if err != nil {
			return nil, fmt.Errorf("%w: merging agents' reports: %v", ErrCoordination, err)
		}
		merged = m
	} else {
		merged = report.Build(report.Input{SLO: co.cfg.SLO.report()})
	}
	for i := range merged.Agents {
		merged.Agents[i].Host = hosts[merged.Agents[i].ID]
	}
	var failures []string
	for i, a := range co.agents {
		sh := Share{Index: i, Of: len(co.agents), Split: co.cc.Split}
		status, why := "", ""
		if r, ok := results[a.ID]; ok && r.Report == nil {
			status, why = report.AgentFailed, r.Error
		} else if w, ok := lost[a.ID]; ok {
			status, why = report.AgentLost, w
		}
		if status == "" {
			if r := results[a.ID]; r.Error != "" {
				merged.Warnings = append(merged.Warnings, fmt.Sprintf("agent %s: %s", a.ID, r.Error))
			}
			continue
		}
		failures = append(failures, fmt.Sprintf("agent %s on %s %s: %s", a.ID, a.Host, status, why))
		if err := merged.AddLostAgent(report.Agent{ID: a.ID, Host: a.Host, Status: status, Error: why, Bots: sh.Bots(co.load())}); err != nil {
			return nil, err
		}
	}
	if scraper != nil {
		in, warn := scraper.input()
		scraper.client.CloseIdleConnections()
		if warn != "" {
			merged.Warnings = append(merged.Warnings, warn)
		}
		if err := merged.SetSFU(in); err != nil {
			return nil, err
		}
	}
	sc := scenarioOf(co.cfg, "run")
	sc.InstanceID, sc.Agents, sc.Split = "", len(co.agents), co.cc.Split
	merged.Scenario = sc
	res.Report = merged
	res.Warnings = merged.Warnings
	if len(failures) > 0 {
		return res, fmt.Errorf("%w: %s", ErrCoordination, strings.Join(failures, "; "))
	}
	return res, nil
}

func (co *coordinator) abortAll(reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, a := range co.agents {
		_ = pushJSON(ctx, co.c, co.k.control(a.ID), ctlMessage{Type: ctlAbort, Reason: reason}, co.ttl)
	}
}

// cleanup removes the run's keys; control lists and heartbeats expire.
func (co *coordinator) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	co.c.Del(ctx, co.k.scenario(), co.k.agents(), co.k.ready(), co.k.results(), co.k.stop())
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// sleepCtx sleeps d unless ctx ends first; it reports whether it slept.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func sleepUntil(ctx context.Context, at time.Time) bool { return sleepCtx(ctx, time.Until(at)) }
