package turn

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v2/stdnet"
	pionturn "github.com/pion/turn/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/metrics/metricstest"
	"github.com/surgertc/surge/sfu/turn/turntest"
)

const testSecret = "test-secret"

// fixture is a TURN server on loopback with a stand-in for the SFU's media
// socket (an allowed peer) and for its admin port (127.0.0.1 too, never
// to be reached through the relay).
type fixture struct {
	srv   *Server
	reg   *prometheus.Registry
	media *net.UDPConn
	admin *net.UDPConn
	guard *guardNet
	pool  *x509.CertPool
	now   func() time.Time
}

func startTURN(t *testing.T, mutate func(*Config)) *fixture {
	t.Helper()
	f := &fixture{reg: prometheus.NewRegistry(), now: time.Now}
	f.media = listenUDP(t)
	f.admin = listenUDP(t)
	cert, key, pool := turntest.Cert(t)
	f.pool = pool
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.UDPAddr, cfg.TCPAddr, cfg.TLSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.CertFile, cfg.KeyFile = cert, key
	cfg.Secret = testSecret
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	f.guard = &guardNet{Net: n}
	media := netip.MustParseAddrPort(f.media.LocalAddr().String())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("SURGE_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f.srv, err = Listen(cfg, WithLogger(log), WithMetrics(metrics.NewTURN(f.reg)), WithRelayNet(f.guard),
		WithPeerExceptions(media), WithClock(func() time.Time { return f.now() }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.srv.Close() })
	return f
}

func listenUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// guardNet opens relay sockets that refuse to send anywhere but loopback
// and remember where they were asked to send: a filter bug shows up in the
// test instead of as a packet to a real network.
type guardNet struct {
	*stdnet.Net
	mu      sync.Mutex
	offLoop []string
}

func (g *guardNet) ListenPacket(network, address string) (net.PacketConn, error) {
	pc, err := g.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return &guardConn{PacketConn: pc, g: g}, nil
}

func (g *guardNet) offLoopback() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.offLoop...)
}

type guardConn struct {
	net.PacketConn
	g *guardNet
}

func (c *guardConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); !ok || !ua.IP.IsLoopback() {
		c.g.mu.Lock()
		c.g.offLoop = append(c.g.offLoop, addr.String())
		c.g.mu.Unlock()
		return 0, &net.OpError{Op: "write", Net: "udp", Err: os.ErrPermission}
	}
	return c.PacketConn.WriteTo(p, addr)
}

// client is a pion TURN client over one transport.
type client struct {
	c    *pionturn.Client
	conn net.PacketConn
}

func (f *fixture) dial(t *testing.T, transport, user, pass string) *client {
	t.Helper()
	var conn net.PacketConn
	var server string
	switch transport {
	case "udp":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn, server = pc, f.srv.UDPAddr().String()
	case "tcp":
		c, err := net.Dial("tcp", f.srv.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn, server = pionturn.NewSTUNConn(c), f.srv.TCPAddr().String()
	case "tls":
		c, err := tls.Dial("tcp", f.srv.TLSAddr().String(), &tls.Config{RootCAs: f.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		conn, server = pionturn.NewSTUNConn(c), f.srv.TLSAddr().String()
	default:
		t.Fatalf("transport %q", transport)
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		TURNServerAddr: server, Conn: conn, Username: user, Password: pass, Realm: "surge", LoggerFactory: lf,
		RTO: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	cl := &client{c: c, conn: conn}
	t.Cleanup(cl.close)
	return cl
}

func (c *client) close() {
	c.c.Close()
	_ = c.conn.Close()
}

// creds mints valid credentials for identity.
func creds(identity string) (string, string) {
	return Mint(testSecret, identity, time.Hour, time.Now())
}

// echo sends msg through relay to the media socket, which answers; it
// returns what came back, or "" when nothing did within d.
func (f *fixture) echo(t *testing.T, relay net.PacketConn, msg string, d time.Duration) string {
	t.Helper()
	if _, err := relay.WriteTo([]byte(msg), f.media.LocalAddr()); err != nil {
		t.Fatalf("relay write: %v", err)
	}
	buf := make([]byte, 1500)
	_ = f.media.SetReadDeadline(time.Now().Add(d))
	n, from, err := f.media.ReadFrom(buf)
	if err != nil {
		return ""
	}
	if _, err := f.media.WriteTo(append([]byte("re:"), buf[:n]...), from); err != nil {
		t.Fatal(err)
	}
	_ = relay.SetReadDeadline(time.Now().Add(d))
	n, _, err = relay.ReadFrom(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// value reads a metric sample from reg: name{label=value,...}.
func value(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	return metricstest.Value(t, reg, name, labels...)
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isCode(err error, code string) bool { return err != nil && strings.Contains(err.Error(), code) }
