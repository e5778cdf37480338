package cluster

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	// The outage tests make go-redis log every failed dial.
	redis.SetLogger(RedisLogger{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	os.Exit(m.Run())
}
