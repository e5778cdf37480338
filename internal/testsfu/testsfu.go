// Package testsfu runs an in-process SFU for tests of other packages
// (loadbot, cmd/loadbot): free loopback ports, a quiet logger, closed when
// the test ends.
package testsfu

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/surgertc/surge/sfu"
)

// Start runs an SFU on free loopback ports; mutate adjusts its config.
func Start(t testing.TB, mutate ...func(*sfu.Config)) *sfu.Server {
	t.Helper()
	cfg := sfu.DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr, cfg.RTC.UDPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DrainTimeout = time.Second
	for _, f := range mutate {
		f(&cfg)
	}
	s, err := sfu.NewServer(cfg, sfu.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("in-process SFU did not start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
