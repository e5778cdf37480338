package cluster_test

// Helpers of the end-to-end cluster tests: in-process nodes (sfu.Server
// with redis.addr), surge processes built from cmd/surge (for kill -9 and
// SIGTERM), a loadbot run in the background, and a bare signaling client.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/surgertc/surge/loadbot"
	"github.com/surgertc/surge/sfu"
	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/cluster"
	"github.com/surgertc/surge/sfu/cluster/redistest"
	"github.com/surgertc/surge/sfu/signal"
)

var (
	buildDir  string
	buildOnce sync.Once
	surgeBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	// The outage tests make go-redis log every failed dial.
	redis.SetLogger(cluster.RedisLogger{Log: quiet()})
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// surgeBinary builds cmd/surge once per test binary, with the race
// detector when the tests have it (the packages are then already compiled
// that way, so the build is mostly a link).
func surgeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "surge-cluster-e2e-")
		if buildErr != nil {
			return
		}
		surgeBin = filepath.Join(buildDir, "surge")
		args := []string{"build"}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "-o", surgeBin, "github.com/surgertc/surge/cmd/surge")
		gobin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("the kill -9 and SIGTERM tests build cmd/surge and need the go command on PATH: %v", err)
			return
		}
		out, err := exec.Command(gobin, args...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build cmd/surge: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return surgeBin
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// node is a cluster member under test: in-process (srv) or a process.
type node struct {
	id, url, admin string

	srv *sfu.Server

	cmd    *exec.Cmd
	logs   *lockedBuffer
	exited chan struct{}
	err    error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startNode runs an in-process node of the cluster at redisAddr.
func startNode(t *testing.T, redisAddr, id string, hb, ttl time.Duration) *node {
	t.Helper()
	cfg := sfu.DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr, cfg.RTC.UDPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DrainTimeout = 2 * time.Second
	cfg.Redis.Addr = redisAddr
	cfg.Node.ID, cfg.Node.HeartbeatInterval, cfg.Node.TTL = id, hb, ttl
	s, err := sfu.NewServer(cfg, sfu.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &node{id: id, url: s.URL(), admin: s.AdminURL(), srv: s}
}

// startProcess runs `surge serve` as its own process.
func startProcess(t *testing.T, redisAddr, id string, extra ...string) *node {
	t.Helper()
	args := append([]string{"serve",
		"--listen_addr=127.0.0.1:0", "--admin_addr=127.0.0.1:0", "--rtc.udp_addr=127.0.0.1:0",
		"--redis.addr=" + redisAddr, "--node.id=" + id, "--log.format=json",
	}, extra...)
	cmd := exec.Command(surgeBinary(t), args...)
	cmd.Env = append(os.Environ(), "SURGE_CONFIG=")
	redistest.KillWithParent(cmd)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{id: id, cmd: cmd, logs: &lockedBuffer{}, exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		announced := false
		for sc.Scan() {
			line := sc.Text()
			_, _ = n.logs.Write([]byte(line + "\n"))
			var rec struct {
				Msg    string `json:"msg"`
				Signal string `json:"signal"`
				Admin  string `json:"admin"`
			}
			if !announced && json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "surge listening" {
				n.url, n.admin, announced = rec.Signal, rec.Admin, true
				close(ready)
			}
		}
		n.err = cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-n.exited
		if t.Failed() {
			t.Logf("node %s log:\n%s", id, n.logs.String())
		}
	})
	select {
	case <-ready:
	case <-n.exited:
		t.Fatalf("node %s exited at start: %v\n%s", id, n.err, n.logs.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("node %s did not announce its listeners:\n%s", id, n.logs.String())
	}
	return n
}

func (n *node) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// registry reads the cluster as an outsider.
func registry(t *testing.T, redisAddr string) *cluster.Registry {
	t.Helper()
	rc := cluster.DefaultRedisConfig()
	rc.Addr = redisAddr
	r, err := cluster.NewRegistry(rc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// roomsByNode is the registry's placement: node id → rooms.
func roomsByNode(t *testing.T, r *cluster.Registry) map[string][]string {
	t.Helper()
	nodes, err := r.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, n := range nodes {
		out[n.ID] = n.Rooms
	}
	return out
}

// loadConfig is a small, cheap load: one low video layer and audio per
// publisher, through entry.
func loadConfig(entry string, rooms, subs int, d time.Duration) loadbot.Config {
	cfg := loadbot.DefaultConfig()
	cfg.URL = entry
	cfg.SFUMetricsURL = ""
	cfg.InstanceID = "e2e"
	cfg.RoomPrefix = "c"
	cfg.Rooms, cfg.Publishers, cfg.Subscribers = rooms, 1, subs
	cfg.Simulcast = false
	cfg.Layers = []loadbot.Layer{{RID: "q", Width: 320, Height: 180, BitrateKbps: 150, FPS: 15}}
	cfg.KeyframeInterval = time.Second
	cfg.Duration, cfg.Grace = d, 10*time.Second
	cfg.JoinRate = 20
	cfg.JoinTimeout = 10 * time.Second
	return cfg
}

// runLoad starts a run in the background; wait returns its result.
func runLoad(t *testing.T, cfg loadbot.Config) (wait func() *loadbot.Result) {
	t.Helper()
	r, err := loadbot.NewRunner(cfg, loadbot.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *loadbot.Result, 1)
	go func() {
		res, err := r.Run(context.Background())
		if err != nil {
			t.Errorf("loadbot run: %v", err)
		}
		done <- res
	}()
	return func() *loadbot.Result { return <-done }
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", within, what, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// joinFollowing joins room as identity through url, following redirects
// (at most 3), and returns the URL of the node that answered joined. The
// socket stays open (a participant) until the test ends.
func joinFollowing(t *testing.T, url, room, identity string) (string, error) {
	tok, err := auth.Mint(auth.DevAPIKey, auth.DevAPISecret, auth.Grant{Room: room, Identity: identity, CanSubscribe: true}, time.Hour, time.Now())
	if err != nil {
		return "", err
	}
	for hop := 0; hop <= 3; hop++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			cancel()
			return "", err
		}
		data, _ := json.Marshal(signal.Message{Type: signal.TypeJoin, Token: tok})
		if err := c.Write(ctx, websocket.MessageText, data); err != nil {
			cancel()
			return "", err
		}
		next := ""
		for next == "" {
			_, data, err := c.Read(ctx)
			if err != nil {
				cancel()
				return "", err
			}
			var m signal.Message
			_ = json.Unmarshal(data, &m)
			switch m.Type {
			case signal.TypeJoined:
				cancel()
				t.Cleanup(func() { _ = c.CloseNow() })
				return url, nil
			case signal.TypeRedirect:
				next = m.URL
			case signal.TypeError:
				cancel()
				return "", fmt.Errorf("%s: %s", m.Code, m.Reason)
			}
		}
		cancel()
		_ = c.CloseNow()
		url = next
	}
	return "", errors.New("more than 3 redirects")
}
