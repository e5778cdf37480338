package loadbot

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/surgertc/surge/internal/testsfu"
	"github.com/surgertc/surge/sfu"
)

// startSFU runs an in-process SFU on free loopback ports.
func startSFU(t *testing.T, mutate ...func(*sfu.Config)) *sfu.Server {
	t.Helper()
	return testsfu.Start(t, mutate...)
}

// testConfig is a short run against s.
func testConfig(s *sfu.Server) Config {
	cfg := DefaultConfig()
	cfg.URL = s.URL()
	cfg.SFUMetricsURL = s.AdminURL() + "/metrics"
	cfg.InstanceID = "t"
	cfg.Rooms, cfg.Publishers, cfg.Subscribers = 1, 1, 2
	cfg.Duration = 4 * time.Second
	cfg.Grace = 5 * time.Second
	cfg.JoinRate = 50
	cfg.JoinTimeout = 5 * time.Second
	return cfg
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
