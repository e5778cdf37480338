package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/surgertc/surge/sfu"
	"github.com/surgertc/surge/sfu/cluster"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the SFU until SIGINT/SIGTERM, then drain",
		Long: `Run the SFU.

Configuration, lowest precedence first: built-in defaults, the file given by
--config, SURGE_* environment variables (rtc.udp_addr is SURGE_RTC_UDP_ADDR),
then the flags below. Without keys the built-in dev key is used and only
loopback addresses may be served.

The first SIGINT/SIGTERM drains (clients are told to leave, for up to
drain_timeout); a second one closes at once. SIGHUP reloads the TLS
certificate files (tls.cert_file, tls.key_file) for new connections.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := configPath(cmd)
			fc, err := loadConfig(path, cmd.Flags())
			if err != nil {
				return err
			}
			log, err := newLogger(fc.Log, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			sigs := make(chan os.Signal, 2)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(sigs)
			hups := make(chan os.Signal, 1)
			signal.Notify(hups, syscall.SIGHUP)
			defer signal.Stop(hups)
			pionLevel, err := parseLevel(fc.Log.PionLevel)
			if err != nil {
				return fmt.Errorf("log.pion_level: %w", err)
			}
			return serve(fc.Config, log, sigs, hups, sfu.WithPionLogLevel(pionLevel))
		},
	}
	addConfigFlags(cmd.Flags(), configFields(reflect.ValueOf(defaultFileConfig())))
	cmd.Flags().SortFlags = false
	return cmd
}

func newLogger(c logConfig, w io.Writer) (*slog.Logger, error) {
	// "trace" lets log.pion_level trace through: Pion's trace lines are
	// logged below debug, where a debug handler would drop them.
	level, err := parseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(c.Format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log.format %q: want text or json", c.Format)
}

func serve(cfg sfu.Config, log *slog.Logger, sigs, hups <-chan os.Signal, opts ...sfu.Option) error {
	// go-redis logs each failed dial process-wide; the cluster node logs
	// an outage once, so the client's own lines go to debug.
	redis.SetLogger(cluster.RedisLogger{Log: log})
	opts = append([]sfu.Option{sfu.WithLogger(log), sfu.WithRegistry(prometheus.NewRegistry()), sfu.WithVersion(version)}, opts...)
	srv, err := sfu.NewServer(cfg, opts...)
	if errors.Is(err, sfu.ErrDevKeyExposed) {
		return fmt.Errorf("%w\n  fix: configure keys (SURGE_KEYS=key:secret, --keys, or keys: in the config file), or keep listen_addr, admin_addr and rtc.udp_addr on 127.0.0.1", err)
	}
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("starting: %w", err)
	}
	log.Info("surge serving", "version", version, "signal_url", srv.URL(), "admin_url", srv.AdminURL())
	if cfg.UsesDevKey() {
		log.Warn("no keys configured: using the built-in dev key, which anyone can use to mint tokens; serving loopback only. Configure keys before exposing this server.",
			"dev_token_url", strings.Replace(strings.TrimSuffix(srv.URL(), "/rtc"), "ws", "http", 1)+"/dev/token?room=demo&identity=alice")
	}
	sig := waitForStop(srv, sigs, hups, log)
	log.Info("draining; send the signal again to close at once", "signal", sig.String(), "drain_timeout", cfg.DrainTimeout.String())
	shutdown(srv, cfg.DrainTimeout, sigs, log)
	log.Info("stopped")
	return nil
}

// drainCloser is the part of *sfu.Server that shutdown needs; tests fake it.
type drainCloser interface {
	Drain(ctx context.Context) error
	Close() error
}

// shutdown drains srv for at most timeout; another signal meanwhile cuts the
// drain short and closes at once. An operator asked for the stop, so errors
// from here are logged, not turned into a failing exit status.
func shutdown(srv drainCloser, timeout time.Duration, sigs <-chan os.Signal, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan struct{})
	forced := make(chan error, 1)
	go func() {
		select {
		case sig := <-sigs:
			log.Warn("second signal: closing now", "signal", sig.String())
			cancel()
			forced <- srv.Close()
		case <-done:
			forced <- nil
		}
	}()
	err := srv.Drain(ctx)
	close(done)
	if cerr := <-forced; cerr != nil && !errors.Is(cerr, sfu.ErrClosed) {
		log.Error("close", "err", cerr)
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, sfu.ErrClosed) {
		log.Error("drain", "err", err)
	}
}

// waitForStop serves until SIGINT/SIGTERM, reloading TLS on each SIGHUP
// (a failed reload is logged by the server and the old certificate kept).
func waitForStop(srv interface{ ReloadTLS() error }, sigs, hups <-chan os.Signal, log *slog.Logger) os.Signal {
	for {
		select {
		case sig := <-sigs:
			return sig
		case <-hups:
			log.Info("SIGHUP: reloading TLS certificates")
			_ = srv.ReloadTLS()
		}
	}
}

// parseLevel reads a level name; "trace" is Pion's level below debug.
func parseLevel(name string) (slog.Level, error) {
	if strings.EqualFold(strings.TrimSpace(name), "trace") {
		return sfu.LevelTrace, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(name)); err != nil {
		return 0, fmt.Errorf("%q: want trace, debug, info, warn or error", name)
	}
	return l, nil
}
