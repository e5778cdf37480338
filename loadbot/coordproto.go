package loadbot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/surgertc/surge/loadbot/report"
)

// A coordinated run: one coordinator and N agents meet in Redis (the one
// the SFU cluster uses, or any other) under keys of one run id:
//
//	loadbot:<run>:scenario   the Config, written once by the coordinator
//	loadbot:<run>:agents     list: each agent's hello (id, host, clock)
//	loadbot:<run>:hb:<id>    an agent's heartbeat, refreshed with a TTL
//	loadbot:<run>:ctl:<id>   list: the coordinator's messages to one agent
//	loadbot:<run>:ready      list: agents that built their bots' share
//	loadbot:<run>:results    list: each agent's report (or its error)
//	loadbot:<run>:stop       set when the coordinator is interrupted: agents
//	                         end their runs early and deliver partial reports
//
// Agents register, get their share and room clocks, report ready; once
// all are ready (the start barrier) the coordinator sends one start time,
// on Redis's clock, and every agent starts its bots at that moment on its
// own clock corrected by its measured offset. An agent whose heartbeat
// expires before it delivered is lost, and the merged report says so.

// coordProtocol changes whenever a message changes meaning.
const coordProtocol = 1

type coordKeys string

func keysFor(run string) coordKeys                { return coordKeys("loadbot:" + run + ":") }
func (k coordKeys) scenario() string              { return string(k) + "scenario" }
func (k coordKeys) agents() string                { return string(k) + "agents" }
func (k coordKeys) heartbeat(agent string) string { return string(k) + "hb:" + agent }
func (k coordKeys) control(agent string) string   { return string(k) + "ctl:" + agent }
func (k coordKeys) ready() string                 { return string(k) + "ready" }
func (k coordKeys) results() string               { return string(k) + "results" }
func (k coordKeys) stop() string                  { return string(k) + "stop" }

// coordScenario is what every agent runs its share of.
type coordScenario struct {
	Protocol int    `json:"protocol"`
	Config   Config `json:"config"`
}

// agentHello is an agent's registration.
type agentHello struct {
	AgentClock
	PID int `json:"pid"`
}

// Control message types, coordinator to agent.
const (
	ctlAssign = "assign"
	ctlStart  = "start"
	ctlAbort  = "abort"
)

type ctlMessage struct {
	Type   string               `json:"type"`
	Share  Share                `json:"share,omitempty"`
	Clocks map[string]RoomClock `json:"clocks,omitempty"`
	// StartAt is on Redis's clock, Unix nanoseconds.
	StartAt int64  `json:"start_at,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// agentResult is an agent's outcome.
type agentResult struct {
	ID      string         `json:"id"`
	Report  *report.Report `json:"report,omitempty"`
	Dropped map[string]int `json:"dropped,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// ErrCoordination is returned when a coordinated run cannot proceed:
// Redis unreachable, agents missing, a run id in use.
var ErrCoordination = errors.New("coordinated run failed")

func dialRedis(ctx context.Context, rawURL string) (*redis.Client, error) {
	if !strings.Contains(rawURL, "://") {
		rawURL = "redis://" + rawURL
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: redis url: %v", ErrConfig, err)
	}
	opts.DialTimeout = 3 * time.Second
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("%w: redis %s: %v", ErrCoordination, opts.Addr, err)
	}
	return c, nil
}

func pushJSON(ctx context.Context, c *redis.Client, key string, v any, ttl time.Duration) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := c.RPush(ctx, key, data).Err(); err != nil {
		return err
	}
	return c.Expire(ctx, key, ttl).Err()
}

// tryPopJSON takes the next element of key if there is one.
func tryPopJSON(ctx context.Context, c *redis.Client, key string, v any) (bool, error) {
	res, err := c.LPop(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal(res, v)
}

// popJSON waits up to wait (whole seconds: Redis's BLPOP takes no less)
// for the next element of key; ok is false on timeout.
func popJSON(ctx context.Context, c *redis.Client, key string, wait time.Duration, v any) (bool, error) {
	res, err := c.BLPop(ctx, wait, key).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal([]byte(res[1]), v)
}

// measureClock reads Redis's clock n times and estimates this host's offset.
func measureClock(ctx context.Context, c *redis.Client, n int) (time.Duration, time.Duration, error) {
	samples := make([]ClockSample, 0, n)
	for i := 0; i < n; i++ {
		sent := time.Now()
		ref, err := c.Time(ctx).Result()
		if err != nil {
			return 0, 0, err
		}
		samples = append(samples, ClockSample{Sent: sent, Reference: ref, Received: time.Now()})
	}
	off, unc, ok := EstimateOffset(samples)
	if !ok {
		return 0, 0, fmt.Errorf("clock went backwards while measuring its offset")
	}
	return off, unc, nil
}

// HostID names the clock this process runs on: the kernel's boot id, so
// containers and processes of one machine share it; the hostname if that
// cannot be read.
func HostID() string {
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id
		}
	}
	h, _ := os.Hostname()
	return h
}
