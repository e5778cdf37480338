package sfu

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun"
	pionturn "github.com/pion/turn/v2"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/sfu/turn"
)

// coturn is Debian's turnserver, started by a test on loopback with the
// TURN REST scheme (use-auth-secret), as an operator would run it beside
// Surge.
type coturn struct {
	addr               string // listening ip:port (UDP and TCP)
	secret             string
	relayMin, relayMax int
}

// lockedBuffer collects turnserver's log for a failing test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

// startCoturn runs turnserver for the test, or skips the test when it is not
// installed, unless SURGE_REQUIRE_COTURN=1 (CI sets it) makes that a failure.
func startCoturn(t *testing.T) *coturn {
	t.Helper()
	bin, err := exec.LookPath("turnserver")
	if err != nil {
		if os.Getenv("SURGE_REQUIRE_COTURN") == "1" {
			t.Fatal("turnserver not found and SURGE_REQUIRE_COTURN=1: install Debian's coturn package")
		}
		t.Skip("turnserver not found: install Debian's coturn package (apt-get install coturn) to run this test")
	}
	c := &coturn{addr: freeUDPAddr(t), secret: fmt.Sprintf("coturn-secret-%d", rand.Int64())}
	c.relayMin, c.relayMax = freeUDPRange(t, 20)
	_, port, _ := net.SplitHostPort(c.addr)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-n", "--no-cli", "--no-tls", "--no-dtls", "--no-rfc5780", "--no-software-attribute",
		"--listening-ip=127.0.0.1", "--listening-port="+port, "--relay-ip=127.0.0.1",
		"--min-port="+strconv.Itoa(c.relayMin), "--max-port="+strconv.Itoa(c.relayMax),
		"--use-auth-secret", "--static-auth-secret="+c.secret, "--realm=surge",
		// The SFU listens on 127.0.0.1 in tests; coturn refuses loopback
		// peers unless told.
		"--allow-loopback-peers",
		"--userdb="+filepath.Join(dir, "turndb"), "--pidfile="+filepath.Join(dir, "pid"),
		"--log-file=stdout", "--simple-log")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start turnserver: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("turnserver log:\n%s", out.String())
		}
	})
	// Ready once it answers a STUN binding request.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if stunAnswers(c.addr) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("turnserver did not answer on %s within 10 s; log:\n%s", c.addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stunAnswers(addr string) bool {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := conn.Write(req.Raw); err != nil {
		return false
	}
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	return err == nil && stun.IsMessage(buf[:n])
}

func freeUDPAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// freeUDPRange finds n consecutive free UDP ports on loopback for coturn's
// relays (it takes a range, not port 0).
func freeUDPRange(t *testing.T, n int) (int, int) {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 30000 + rand.IntN(30000)
		var held []net.PacketConn
		ok := true
		for p := base; p < base+n; p++ {
			c, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			_ = c.Close()
		}
		if ok {
			return base, base + n - 1
		}
	}
	t.Fatal("no free range of UDP ports for coturn's relays")
	return 0, 0
}

// allocateOn asks a TURN server at addr for an allocation with the given
// credentials, as a TURN client would.
func allocateOn(t *testing.T, addr, user, pass string) error {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	c, err := pionturn.NewClient(&pionturn.ClientConfig{TURNServerAddr: addr, Conn: conn, Username: user, Password: pass, LoggerFactory: lf, RTO: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		return err
	}
	return relay.Close()
}

func TestCoturnAcceptsPerJoinCredentials(t *testing.T) {
	ct := startCoturn(t)
	url := "turn:" + ct.addr + "?transport=udp"
	s := startServer(t, func(c *Config) {
		c.TURN.External = []turn.External{{URLs: []string{url}, Secret: ct.secret}}
	})
	keep := func(u string) bool { return u == url }
	pub := joinRelayed(t, s, "coturn", "alice", relayOnly(t, keep, nil))
	sub := joinRelayed(t, s, "coturn", "bob", relayOnly(t, keep, nil))
	mediaFlows(t, pub, sub)
	for name, pc := range map[string]*webrtc.PeerConnection{"alice's publisher": pub.pub, "bob's subscriber": sub.sub} {
		l := selectedLocal(pc)
		if l == nil || l.Typ != webrtc.ICECandidateTypeRelay {
			t.Fatalf("%s: selected local candidate %v, want a coturn relay", name, l)
		}
		if int(l.Port) < ct.relayMin || int(l.Port) > ct.relayMax {
			t.Errorf("%s relays on port %d, outside coturn's range %d-%d", name, l.Port, ct.relayMin, ct.relayMax)
		}
	}
	eventually(t, 5*time.Second, "the SFU to count two relayed connections", func() bool {
		return sample(t, s, "surge_ice_selected_pairs", "candidate_type", "relay", "protocol", "udp") == 2
	})

	// The same scheme, minted by Surge: fresh credentials work, expired
	// ones and ones signed with another secret are refused.
	now := time.Now()
	for _, tc := range []struct {
		name   string
		secret string
		at     time.Time
		ok     bool
	}{
		{"fresh credentials", ct.secret, now, true},
		{"credentials that expired an hour ago", ct.secret, now.Add(-2 * time.Hour), false},
		{"credentials signed with another secret", "not-the-secret", now, false},
	} {
		user, pass := turn.Mint(tc.secret, "carol", time.Hour, tc.at)
		err := allocateOn(t, ct.addr, user, pass)
		switch {
		case tc.ok && err != nil:
			t.Errorf("coturn refused %s: %v", tc.name, err)
		case !tc.ok && err == nil:
			t.Errorf("coturn accepted %s", tc.name)
		case !tc.ok:
			t.Logf("coturn refused %s: %v", tc.name, err)
		}
	}
}
