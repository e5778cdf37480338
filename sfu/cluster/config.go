package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig says how to reach the Redis server the nodes share. An empty
// Addr means no cluster: the node runs alone, exactly as without this
// package.
type RedisConfig struct {
	// Addr is host:port of the Redis server.
	Addr     string `mapstructure:"addr"`
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	DB       int    `mapstructure:"db"`
	// TLS connects with TLS; TLSCAFile, if set, is the PEM bundle that
	// verifies the server (default: the system roots).
	TLS       bool   `mapstructure:"tls"`
	TLSCAFile string `mapstructure:"tls_ca_file"`
	// KeyPrefix starts every key Surge writes, so several clusters (or
	// other applications) can share one Redis.
	KeyPrefix string `mapstructure:"key_prefix"`
}

// Enabled reports whether a Redis address is configured.
func (c RedisConfig) Enabled() bool { return c.Addr != "" }

// NodeConfig is this node's identity and timing in the cluster.
type NodeConfig struct {
	// ID names the node in Redis; empty: generated at start. Letters,
	// digits, '.', '_' and '-' only.
	ID string `mapstructure:"id"`
	// SignalURL is the WebSocket URL clients are redirected to for rooms
	// this node holds, e.g. wss://sfu-2.example.com/rtc. Empty: derived
	// from the bound listen_addr, which is only right on one host.
	SignalURL string `mapstructure:"signal_url"`
	// Region is an optional label; a client that names a region (token
	// claim or ?region=) gets a node there while one has headroom.
	Region string `mapstructure:"region"`
	// RegionHeadroom is the CPU headroom (0..1) a node in the client's
	// region needs to be preferred over the least-loaded node elsewhere.
	RegionHeadroom float64 `mapstructure:"region_headroom"`
	// HeartbeatInterval is how often the node writes its load and refreshes
	// its room claims; TTL is how long both live without a refresh, so a
	// dead node's rooms are free for re-placement at most TTL after it died.
	HeartbeatInterval time.Duration `mapstructure:"heartbeat_interval"`
	TTL               time.Duration `mapstructure:"ttl"`
}

// Config is a node's cluster configuration.
type Config struct {
	Redis RedisConfig
	Node  NodeConfig
}

// DefaultRedisConfig is no cluster, with the key prefix a cluster would use.
func DefaultRedisConfig() RedisConfig { return RedisConfig{KeyPrefix: "surge:"} }

// DefaultNodeConfig heartbeats every 2 s with a 10 s TTL.
func DefaultNodeConfig() NodeConfig {
	return NodeConfig{RegionHeadroom: 0.2, HeartbeatInterval: 2 * time.Second, TTL: 10 * time.Second}
}

var validID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Validate checks a configuration that has Redis enabled.
func (c Config) Validate() error {
	if !c.Redis.Enabled() {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Redis.Addr); err != nil {
		return fmt.Errorf("%w: redis.addr %q is not host:port", ErrConfig, c.Redis.Addr)
	}
	if c.Redis.DB < 0 {
		return fmt.Errorf("%w: redis.db must be >= 0", ErrConfig)
	}
	if c.Node.ID != "" && !validID.MatchString(c.Node.ID) {
		return fmt.Errorf("%w: node.id %q: use 1-64 letters, digits, '.', '_' or '-'", ErrConfig, c.Node.ID)
	}
	if c.Node.HeartbeatInterval <= 0 || c.Node.TTL < 2*c.Node.HeartbeatInterval {
		return fmt.Errorf("%w: node.ttl must be at least twice node.heartbeat_interval > 0, so one lost heartbeat does not free the node's rooms", ErrConfig)
	}
	if c.Node.RegionHeadroom < 0 || c.Node.RegionHeadroom > 1 {
		return fmt.Errorf("%w: node.region_headroom must be in [0, 1]", ErrConfig)
	}
	return nil
}

// timeouts keep every Redis call short: a node must keep serving when Redis
// is slow or gone, not wait on it.
const (
	dialTimeout = time.Second
	opTimeout   = time.Second
)

// newClient builds the go-redis client. Retries are off: the heartbeat loop
// retries on its own schedule, and a join never waits for more than one
// attempt.
func newClient(c RedisConfig) (*redis.Client, error) {
	opt := &redis.Options{
		Addr:            c.Addr,
		Username:        c.Username,
		Password:        c.Password,
		DB:              c.DB,
		Protocol:        2,
		DialTimeout:     dialTimeout,
		ReadTimeout:     opTimeout,
		WriteTimeout:    opTimeout,
		MaxRetries:      -1,
		DialerRetries:   1,
		PoolSize:        8,
		DisableIdentity: true,
		// Context deadlines bound each call, not only the socket timeouts.
		ContextTimeoutEnabled: true,
	}
	if c.TLS {
		host, _, _ := net.SplitHostPort(c.Addr)
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
		if c.TLSCAFile != "" {
			pem, err := os.ReadFile(c.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("%w: redis.tls_ca_file: %v", ErrConfig, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: redis.tls_ca_file %s holds no PEM certificate", ErrConfig, c.TLSCAFile)
			}
			tc.RootCAs = pool
		}
		opt.TLSConfig = tc
	}
	return redis.NewClient(opt), nil
}

// RedisLogger adapts go-redis's process-wide logger to slog at debug level:
// go-redis logs every failed dial, which during an outage would repeat each
// heartbeat, while the node itself logs the outage once. Install it with
// redis.SetLogger where the process is set up (cmd/surge).
type RedisLogger struct{ Log *slog.Logger }

// Printf implements go-redis's internal.Logging.
func (l RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.Log.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}
