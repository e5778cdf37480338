package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surgertc/surge/internal/testsfu"
	"github.com/surgertc/surge/loadbot"
	"github.com/surgertc/surge/loadbot/report"
	"github.com/surgertc/surge/sfu"
	"github.com/surgertc/surge/sfu/cluster/redistest"
)

// startRedis runs a throwaway redis-server (see redistest) and returns
// its URL.
func startRedis(t *testing.T) string {
	t.Helper()
	return "redis://" + redistest.Start(t).Addr + "/0"
}

// TestMain lets the test binary be loadbot itself, so multi-process tests
// start real separate processes without building anything.
func TestMain(m *testing.M) {
	if os.Getenv("LOADBOT_TEST_AS_MAIN") == "1" {
		os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func startTestSFU(t *testing.T) *sfu.Server {
	t.Helper()
	return testsfu.Start(t)
}

// agentProc is one `loadbot agent` process.
type agentProc struct {
	id      string
	cmd     *exec.Cmd
	mu      sync.Mutex
	stderr  bytes.Buffer
	started chan struct{} // closed at its first progress line: its bots run
}

func startAgent(t *testing.T, redisURL, run, id string, extra ...string) *agentProc {
	t.Helper()
	a := &agentProc{id: id, started: make(chan struct{})}
	args := append([]string{"agent", "--redis", redisURL, "--run", run, "--id", id, "--heartbeat", "200ms", "--wait", "60s"}, extra...)
	a.cmd = exec.Command(os.Args[0], args...)
	a.cmd.Env = append(os.Environ(), "LOADBOT_TEST_AS_MAIN=1")
	redistest.KillWithParent(a.cmd) // no agent outlives a killed test binary
	pipe, err := a.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var once sync.Once
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			a.mu.Lock()
			a.stderr.WriteString(sc.Text() + "\n")
			a.mu.Unlock()
			if strings.HasPrefix(sc.Text(), "[") {
				once.Do(func() { close(a.started) })
			}
		}
	}()
	t.Cleanup(func() {
		_ = a.cmd.Process.Kill()
		<-done
		_ = a.cmd.Wait()
	})
	return a
}

func (a *agentProc) log() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stderr.String()
}

func coordinate(t *testing.T, s *sfu.Server, redisURL, run string, extra ...string) (int, report.Report, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "merged.json")
	args := append([]string{"coordinate", "--redis", redisURL, "--run", run,
		"--url", s.URL(), "--sfu-metrics", s.AdminURL() + "/metrics",
		"--publishers", "1", "--split", "bots",
		"--join-rate", "50", "--join-timeout", "15s", "--grace", "5s", "--heartbeat-ttl", "1s",
		// Latency and loss are the SFU's business; this test is about counting.
		"--slo-p99-latency-ms", "0", "--slo-loss-pct", "0", "--slo-freezes-per-min", "0",
		"--json", path}, extra...)
	var out, errb bytes.Buffer
	code := execute(args, &out, &errb)
	var rep report.Report
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no merged report (exit %d): %v\n%s\n%s", code, err, out.String(), errb.String())
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	return code, rep, out.String() + errb.String()
}

func TestCoordinatedRunCountsEveryBotOnce(t *testing.T) {
	redisURL := startRedis(t)
	s := startTestSFU(t)
	var agents []*agentProc
	for i := 0; i < 3; i++ {
		agents = append(agents, startAgent(t, redisURL, "count", fmt.Sprintf("a%d", i)))
	}
	code, rep, out := coordinate(t, s, redisURL, "count", "--duration", "3s", "--agents", "3", "--rooms", "2", "--subscribers", "3")
	logs := ""
	for _, a := range agents {
		logs += a.id + ":\n" + a.log()
	}
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, logs)
	}
	sum := rep.Summary
	if sum.Bots.Target != 8 || sum.Bots.Connected != 8 || sum.Bots.Lost != 0 {
		t.Fatalf("bots %+v (failures %v)\n%s", sum.Bots, sum.JoinFailures, logs)
	}
	ids := map[string]bool{}
	perAgent := map[string]int{}
	for _, room := range rep.Rooms {
		if room.Publishers != 1 || room.Subscribers != 3 {
			t.Errorf("room %s: %d publishers, %d subscribers", room.Name, room.Publishers, room.Subscribers)
		}
		if room.LatencyClock != report.ClockPartial && room.LatencyClock != report.ClockSameHost {
			// Subscribers with their publisher (same process) and on the
			// other agents (same host) combine to same_host.
			t.Errorf("room %s: latency clock %s", room.Name, room.LatencyClock)
		}
		for _, b := range room.Bots {
			if ids[b.ID] {
				t.Fatalf("bot %s counted twice", b.ID)
			}
			ids[b.ID] = true
			perAgent[b.ID[:2]]++
		}
	}
	if len(ids) != 8 || len(rep.Agents) != 3 {
		t.Fatalf("%d distinct bots, %d agents", len(ids), len(rep.Agents))
	}
	total := 0
	for _, a := range rep.Agents {
		if a.Status != report.AgentOK || a.Summary == nil || a.Bots != perAgent[a.ID] || a.Bots == 0 {
			t.Errorf("agent %+v, bots in rooms %d", a, perAgent[a.ID])
		}
		total += a.Bots
	}
	if total != 8 || rep.Scenario.Agents != 3 || rep.Scenario.Split != "bots" {
		t.Errorf("agents' bots add to %d; scenario %+v", total, rep.Scenario)
	}
	if sum.LatencyMs.P50 <= 0 || !sum.SFU.Scraped || len(rep.Timeline) == 0 {
		t.Errorf("latency %+v, sfu scraped %v, %d timeline points", sum.LatencyMs, sum.SFU.Scraped, len(rep.Timeline))
	}
}

func TestKilledAgentIsReportedLost(t *testing.T) {
	redisURL := startRedis(t)
	s := startTestSFU(t)
	var agents []*agentProc
	for i := 0; i < 3; i++ {
		agents = append(agents, startAgent(t, redisURL, "kill", fmt.Sprintf("a%d", i)))
	}
	victim := agents[2]
	go func() {
		select {
		case <-victim.started:
			time.Sleep(500 * time.Millisecond)
			_ = victim.cmd.Process.Kill()
		case <-time.After(60 * time.Second):
		}
	}()
	code, rep, out := coordinate(t, s, redisURL, "kill", "--duration", "5s", "--agents", "3", "--rooms", "2", "--subscribers", "3")
	if code != exitFailed || !strings.Contains(out, "agent a2") {
		t.Fatalf("exit %d, want %d naming the lost agent\n%s", code, exitFailed, out)
	}
	sum := rep.Summary
	var lost *report.Agent
	for i := range rep.Agents {
		if rep.Agents[i].ID == "a2" {
			lost = &rep.Agents[i]
		}
	}
	if lost == nil || lost.Status != report.AgentLost || lost.Bots == 0 || lost.Summary != nil {
		t.Fatalf("agents %+v", rep.Agents)
	}
	if !rep.Partial || sum.Bots.Lost != lost.Bots || sum.Bots.Target != 8 || sum.Bots.Connected+sum.Bots.Failed+sum.Bots.Lost != 8 {
		t.Fatalf("partial %v, bots %+v, lost agent's %d", rep.Partial, sum.Bots, lost.Bots)
	}
	for _, room := range rep.Rooms {
		for _, b := range room.Bots {
			if strings.HasPrefix(b.ID, "a2-") {
				t.Fatalf("a bot of the lost agent is in the results: %s", b.ID)
			}
		}
	}
	found := false
	for _, w := range rep.Warnings {
		found = found || strings.Contains(w, "agent a2") && strings.Contains(w, "lost")
	}
	if !found {
		t.Fatalf("no warning about the lost agent: %q", rep.Warnings)
	}
}

// TestLatencyAcrossHostsWithoutAClockIsAbsent: two agents that claim
// different hosts, and no measured offset allowed: the subscriber on the
// publisher's agent measures latency, the other leaves it out, and the
// report says why instead of printing a wrong number.
func TestLatencyAcrossHostsWithoutAClockIsAbsent(t *testing.T) {
	redisURL := startRedis(t)
	s := startTestSFU(t)
	startAgent(t, redisURL, "clock", "a0", "--host-id", "host-one", "--host", "one")
	startAgent(t, redisURL, "clock", "a1", "--host-id", "host-two", "--host", "two")
	code, rep, out := coordinate(t, s, redisURL, "clock", "--duration", "2s", "--agents", "2", "--rooms", "1",
		"--subscribers", "2", "--max-clock-uncertainty", "0")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	room := rep.Rooms[0]
	if room.LatencyClock != report.ClockPartial || !strings.Contains(room.LatencyNote, "share no clock") ||
		!strings.Contains(rep.Summary.LatencyNote, "share no clock") {
		t.Fatalf("room clock %q note %q; summary note %q", room.LatencyClock, room.LatencyNote, rep.Summary.LatencyNote)
	}
	home := ""
	for _, b := range room.Bots {
		if b.Role == "publisher" {
			home = b.ID[:3] // the agent that registered first: "a0-" or "a1-"
		}
	}
	for _, b := range room.Bots {
		if b.Role != "subscriber" {
			continue
		}
		// The subscriber on the publisher's agent times packets on the
		// same clock; the other has none to time them with.
		switch {
		case strings.HasPrefix(b.ID, home) && b.LatencyMs.P50 <= 0:
			t.Errorf("%s shares the publisher's process but measured no latency", b.ID)
		case !strings.HasPrefix(b.ID, home) && (b.LatencyMs.Max != 0 || b.Frames == 0):
			t.Errorf("%s on the other host: latency %+v, frames %d", b.ID, b.LatencyMs, b.Frames)
		}
	}
}

// TestInterruptedCoordinatorStopsItsAgents: canceling the coordinator
// (Ctrl-C) makes the agents end their runs and deliver partial reports at
// once, instead of running out a long duration; none is reported lost.
func TestInterruptedCoordinatorStopsItsAgents(t *testing.T) {
	redisURL := startRedis(t)
	s := startTestSFU(t)
	var agents []*agentProc
	for i := 0; i < 2; i++ {
		agents = append(agents, startAgent(t, redisURL, "stop", fmt.Sprintf("a%d", i)))
	}
	cfg := loadbot.DefaultConfig()
	cfg.URL, cfg.SFUMetricsURL = s.URL(), ""
	cfg.Rooms, cfg.Publishers, cfg.Subscribers = 2, 1, 1
	cfg.Duration, cfg.Grace, cfg.JoinRate = time.Minute, 3*time.Second, 50
	cc := loadbot.DefaultCoordinatorConfig()
	cc.Redis, cc.RunID, cc.Agents, cc.HeartbeatTTL = redisURL, "stop", 2, time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-agents[0].started
		<-agents[1].started
		time.Sleep(time.Second)
		cancel()
	}()
	begin := time.Now()
	res, err := loadbot.Coordinate(ctx, cfg, cc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("%v\n%s%s", err, agents[0].log(), agents[1].log())
	}
	if took := time.Since(begin); took > 30*time.Second {
		t.Fatalf("the run took %v after the interrupt; agents did not stop", took)
	}
	rep := res.Report
	if !rep.Partial || rep.Summary.Bots.Lost != 0 || rep.Summary.Bots.Connected != 4 || len(rep.Agents) != 2 {
		t.Fatalf("partial %v bots %+v agents %+v", rep.Partial, rep.Summary.Bots, rep.Agents)
	}
}
