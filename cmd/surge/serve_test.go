package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/surgertc/surge/sfu"
)

// configKeys lists every leaf key by its mapstructure tags, independently of
// the flag generator, so that a key the generator skips fails the help test.
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			if strings.Contains(opts, "squash") {
				keys = append(keys, configKeys(f.Type, prefix)...)
			} else {
				keys = append(keys, configKeys(f.Type, prefix+name+".")...)
			}
			continue
		}
		keys = append(keys, prefix+name)
	}
	return keys
}

func TestServeHelpListsEveryConfigKey(t *testing.T) {
	var out bytes.Buffer
	root := newRootCmd(&out, &out)
	root.SetArgs([]string{"serve", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	keys := append(configKeys(reflect.TypeOf(sfu.Config{}), ""), "log.level", "log.format")
	if len(keys) < 19 {
		t.Fatalf("walked only %d keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		if secretKeys[k] {
			if strings.Contains(out.String(), "--"+k+" ") {
				t.Errorf("serve --help offers --%s, which is refused", k)
			}
			continue
		}
		if !strings.Contains(out.String(), "--"+k+" ") {
			t.Errorf("serve --help does not list --%s", k)
		}
		if _, ok := descriptions[k]; !ok {
			t.Logf("key %s has no description in cmd/surge/config.go", k)
		}
	}
}

func TestServeRefusesDevKeyOnPublicAddress(t *testing.T) {
	var out bytes.Buffer
	root := newRootCmd(&out, &out)
	// Port 0 so that nothing fixed would be bound even if the check moved.
	root.SetArgs([]string{"serve", "--listen_addr=0.0.0.0:0", "--admin_addr=127.0.0.1:0", "--rtc.udp_addr=127.0.0.1:0"})
	err := root.Execute()
	if !errors.Is(err, sfu.ErrDevKeyExposed) {
		t.Fatalf("err = %v, want ErrDevKeyExposed", err)
	}
	if !strings.Contains(err.Error(), "configure keys") {
		t.Errorf("error does not say how to fix it: %v", err)
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	l, err := newLogger(logConfig{Level: "warn", Format: "json"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown")
	if s := buf.String(); strings.Contains(s, "hidden") || !strings.Contains(s, `"msg":"shown"`) {
		t.Errorf("log output %q", s)
	}
	// trace is below debug: Pion's trace lines (log.pion_level trace)
	// reach the log only through a trace handler.
	buf.Reset()
	if l, err = newLogger(logConfig{Level: "trace", Format: "text"}, &buf); err != nil {
		t.Fatal(err)
	}
	l.Log(context.Background(), sfu.LevelTrace, "pion trace")
	if !strings.Contains(buf.String(), "pion trace") {
		t.Errorf("log.level trace dropped a trace line: %q", buf.String())
	}
	for _, c := range []logConfig{{Level: "loud", Format: "text"}, {Level: "info", Format: "xml"}} {
		if _, err := newLogger(c, &buf); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

type fakeServer struct {
	drained  chan struct{}
	deadline time.Time
	closed   int
	block    bool // Drain waits for its context, like a server with clients left
}

func (f *fakeServer) Drain(ctx context.Context) error {
	f.deadline, _ = ctx.Deadline()
	close(f.drained)
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (f *fakeServer) Close() error { f.closed++; return nil }

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestShutdownDrainsWithinDrainTimeout(t *testing.T) {
	f := &fakeServer{drained: make(chan struct{})}
	start := time.Now()
	shutdown(f, time.Minute, make(chan os.Signal), discard)
	if d := f.deadline.Sub(start); d < 59*time.Second || d > 61*time.Second {
		t.Errorf("drain deadline %v from now, want drain_timeout (1m)", d)
	}
	if f.closed != 0 {
		t.Errorf("Close called %d times after a clean drain; Drain closes by itself", f.closed)
	}
}

func TestShutdownSecondSignalForcesClose(t *testing.T) {
	f := &fakeServer{drained: make(chan struct{}), block: true}
	sigs := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() {
		shutdown(f, time.Hour, sigs, discard)
		close(done)
	}()
	<-f.drained
	sigs <- syscall.SIGTERM
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a second signal did not end the drain")
	}
	if f.closed != 1 {
		t.Errorf("Close called %d times, want 1", f.closed)
	}
}

// Issue 15, harm 4: `surge serve --keys k:s` put the secret on the command
// line, which /debug/pprof/cmdline served. Secrets are refused as flags.
func TestServeRefusesSecretsOnTheCommandLine(t *testing.T) {
	for _, arg := range []string{"--keys=k:s", "--admin.token=t0p"} {
		var out bytes.Buffer
		root := newRootCmd(&out, &out)
		root.SetArgs([]string{"serve", arg, "--listen_addr=127.0.0.1:0", "--admin_addr=127.0.0.1:0", "--rtc.udp_addr=127.0.0.1:0"})
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), "SURGE_") {
			t.Errorf("%s: err = %v, want a refusal naming the environment variable", arg, err)
		}
		if strings.Contains(out.String(), "k:s") || strings.Contains(out.String(), "t0p") || (err != nil && (strings.Contains(err.Error(), "k:s") || strings.Contains(err.Error(), "t0p"))) {
			t.Errorf("%s: the secret was echoed back", arg)
		}
	}
}

type fakeReloader struct{ reloaded chan struct{} }

func (f *fakeReloader) ReloadTLS() error { f.reloaded <- struct{}{}; return nil }

// TestSIGHUPReloadsTLS: SIGHUP reloads and serving goes on; only
// SIGINT/SIGTERM ends it.
func TestSIGHUPReloadsTLS(t *testing.T) {
	sigs, hups := make(chan os.Signal, 1), make(chan os.Signal, 2)
	hups <- syscall.SIGHUP
	hups <- syscall.SIGHUP
	f := &fakeReloader{reloaded: make(chan struct{}, 2)}
	done := make(chan os.Signal, 1)
	go func() { done <- waitForStop(f, sigs, hups, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	<-f.reloaded
	<-f.reloaded
	select {
	case got := <-done:
		t.Fatalf("stopped on %v without a stop signal", got)
	default:
	}
	sigs <- syscall.SIGTERM
	if got := <-done; got != syscall.SIGTERM {
		t.Fatalf("stopped on %v, want SIGTERM", got)
	}
}
