package sfu

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// TLSConfig serves the public listener (signaling, demo page, room API)
// over TLS: wss:// and https://.
type TLSConfig struct {
	// CertFile and KeyFile are PEM files: the certificate chain (leaf first)
	// and its private key. Both empty: plain HTTP (e.g. behind a TLS proxy).
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
	// ReloadInterval is how often the files are checked for changes; a
	// change (or SIGHUP) loads them for new connections, existing ones
	// keep theirs.
	ReloadInterval time.Duration `mapstructure:"reload_interval"`
}

// DefaultTLSConfig is plain HTTP, with a reload check every 10s once
// files are set.
func DefaultTLSConfig() TLSConfig { return TLSConfig{ReloadInterval: 10 * time.Second} }

// Enabled reports whether the public listener serves TLS.
func (c TLSConfig) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" }

func (c TLSConfig) validate() error {
	if !c.Enabled() {
		return nil
	}
	if c.CertFile == "" || c.KeyFile == "" {
		return fmt.Errorf("%w: tls.cert_file and tls.key_file go together", ErrConfig)
	}
	if c.ReloadInterval <= 0 {
		return fmt.Errorf("%w: tls.reload_interval must be positive", ErrConfig)
	}
	return nil
}

// certReloader hands the current certificate to each TLS handshake and
// swaps it when the files change. A bad new pair is logged and the old one
// kept, so a half-written renewal never takes the listener down.
type certReloader struct {
	cfg  TLSConfig
	log  *slog.Logger
	cert atomic.Pointer[tls.Certificate]

	mu    sync.Mutex // serialises reloads
	stamp [2]fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func newCertReloader(cfg TLSConfig, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{cfg: cfg, log: log}
	if _, err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}
}

// load reads both files and installs the pair; it returns the leaf.
func (c *certReloader) load() (*x509.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stamp := [2]fileStamp{stampOf(c.cfg.CertFile), stampOf(c.cfg.KeyFile)}
	pair, err := tls.LoadX509KeyPair(c.cfg.CertFile, c.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: loading %s and %s: %w", c.cfg.CertFile, c.cfg.KeyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("tls: %s: %w", c.cfg.CertFile, err)
	}
	pair.Leaf = leaf
	c.cert.Store(&pair)
	c.stamp = stamp
	return leaf, nil
}

// reload loads the files again (SIGHUP, or a change seen by watch).
func (c *certReloader) reload() error {
	leaf, err := c.load()
	if err != nil {
		c.log.Error("TLS certificate reload failed; keeping the current one", "err", err)
		return err
	}
	c.log.Info("TLS certificate loaded", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "serial", leaf.SerialNumber.String())
	return nil
}

func (c *certReloader) changed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stamp != [2]fileStamp{stampOf(c.cfg.CertFile), stampOf(c.cfg.KeyFile)}
}

// watch reloads when either file's size or modification time changes,
// which covers in-place rewrites and Kubernetes' symlink swaps of a Secret.
func (c *certReloader) watch(ctx context.Context) {
	t := time.NewTicker(c.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if c.changed() {
				_ = c.reload()
			}
		}
	}
}

func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

// serverTLS is the listener's TLS configuration: TLS 1.2 at least, HTTP/1.1
// only (WebSocket upgrades need it).
func (c *certReloader) serverTLS() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.getCertificate, NextProtos: []string{"http/1.1"}}
}

// listenPublic wraps the public listener in TLS when configured and starts
// the file watch, owned by the server's context and serve wait group.
func (s *Server) listenPublic(ln net.Listener) (net.Listener, error) {
	if !s.cfg.TLS.Enabled() {
		return ln, nil
	}
	c, err := newCertReloader(s.cfg.TLS, s.log)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	s.certs = c
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		c.watch(s.ctx)
	}()
	return tls.NewListener(ln, c.serverTLS()), nil
}

// ReloadTLS loads the certificate files again for new connections (surge
// serve calls it on SIGHUP). Without TLS it does nothing.
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return nil
	}
	return s.certs.reload()
}

func (s *Server) wsScheme() string {
	if s.cfg.TLS.Enabled() {
		return "wss"
	}
	return "ws"
}
