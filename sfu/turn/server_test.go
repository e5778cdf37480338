package turn

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/stun"
	"go.uber.org/goleak"
)

func TestRelaysOverUDPTCPAndTLS(t *testing.T) {
	f := startTURN(t, nil)
	for _, transport := range []string{"udp", "tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			user, pass := creds("alice-" + transport)
			c := f.dial(t, transport, user, pass)
			relay, err := c.c.Allocate()
			if err != nil {
				t.Fatalf("allocate over %s: %v", transport, err)
			}
			defer relay.Close()
			if got := value(t, f.reg, "surge_turn_allocations", "transport", transport); got != 1 {
				t.Errorf("surge_turn_allocations{transport=%q} = %v with one allocation", transport, got)
			}
			before := value(t, f.reg, "surge_turn_relayed_packets_total", "direction", "to_client")
			for i := 0; i < 5; i++ {
				msg := fmt.Sprintf("%s packet %d", transport, i)
				if got := f.echo(t, relay, msg, 2*time.Second); got != "re:"+msg {
					t.Fatalf("echo %d through the %s relay: got %q", i, transport, got)
				}
			}
			// A packet is counted once its send returned, which can be
			// after the echo it caused is back: the count catches up.
			eventually(t, 5*time.Second, "relayed to_client to grow by 5 for 5 echoes", func() bool {
				return value(t, f.reg, "surge_turn_relayed_packets_total", "direction", "to_client")-before >= 5
			})
		})
	}
	eventually(t, 5*time.Second, "relayed to_peer to count 15 packets", func() bool {
		return value(t, f.reg, "surge_turn_relayed_packets_total", "direction", "to_peer") >= 15
	})
	eventually(t, 5*time.Second, "allocations to be released", func() bool { return f.srv.Allocations() == 0 })
	for _, tr := range []string{"udp", "tcp", "tls"} {
		if got := value(t, f.reg, "surge_turn_allocations", "transport", tr); got != 0 {
			t.Errorf("surge_turn_allocations{transport=%q} = %v after every client deleted its allocation", tr, got)
		}
	}
}

func TestRefusesBadCredentials(t *testing.T) {
	f := startTURN(t, nil)
	user, pass := creds("alice")
	expiredUser, expiredPass := Mint(testSecret, "alice", time.Hour, time.Now().Add(-2*time.Hour))
	otherUser, otherPass := Mint("another-secret", "alice", time.Hour, time.Now())
	for _, tc := range []struct {
		name, user, pass, reason string
	}{
		{"wrong password", user, pass + "x", "unauthorized"},
		{"signed with another secret", otherUser, otherPass, "unauthorized"},
		{"expired", expiredUser, expiredPass, "expired"},
		{"not a REST username", "alice", "whatever", "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := value(t, f.reg, "surge_turn_allocation_failures_total", "reason", tc.reason)
			c := f.dial(t, "udp", tc.user, tc.pass)
			if relay, err := c.c.Allocate(); err == nil {
				relay.Close()
				t.Fatal("allocation granted")
			}
			if d := value(t, f.reg, "surge_turn_allocation_failures_total", "reason", tc.reason) - before; d < 1 {
				t.Errorf("failures{reason=%q} did not grow", tc.reason)
			}
		})
	}
	// The refusals cost nobody else anything.
	c := f.dial(t, "udp", user, pass)
	relay, err := c.c.Allocate()
	if err != nil {
		t.Fatalf("valid credentials refused after the bad ones: %v", err)
	}
	relay.Close()
}

func TestQuotaPerIdentity(t *testing.T) {
	f := startTURN(t, func(c *Config) { c.UserQuota = 2 })
	var relays []net.PacketConn
	for i := 0; i < 2; i++ {
		user, pass := creds("alice") // a fresh credential each time: the quota is per identity
		relay, err := f.dial(t, []string{"udp", "tcp"}[i], user, pass).c.Allocate()
		if err != nil {
			t.Fatalf("allocation %d within the quota: %v", i+1, err)
		}
		relays = append(relays, relay)
	}
	user, pass := creds("alice")
	if relay, err := f.dial(t, "udp", user, pass).c.Allocate(); err == nil {
		relay.Close()
		t.Fatal("third allocation granted with user_quota 2")
	} else if !isCode(err, "486") {
		t.Errorf("beyond the quota: %v, want error 486 (Allocation Quota Reached)", err)
	}
	if got := value(t, f.reg, "surge_turn_allocation_failures_total", "reason", "quota"); got != 1 {
		t.Errorf("failures{reason=quota} = %v", got)
	}
	bobUser, bobPass := creds("bob")
	if relay, err := f.dial(t, "udp", bobUser, bobPass).c.Allocate(); err != nil {
		t.Fatalf("bob refused because of alice's quota: %v", err)
	} else {
		relay.Close()
	}
	// Deleting an allocation gives its slot back.
	relays[0].Close()
	eventually(t, 5*time.Second, "a slot to free up", func() bool { return f.srv.ledger.holding("alice") == 1 })
	user, pass = creds("alice")
	relay, err := f.dial(t, "udp", user, pass).c.Allocate()
	if err != nil {
		t.Fatalf("allocation after one was deleted: %v", err)
	}
	relay.Close()
	relays[1].Close()
}

func TestDeniedPeersAreNotReached(t *testing.T) {
	f := startTURN(t, nil)
	user, pass := creds("mallory")
	c := f.dial(t, "udp", user, pass)
	relay, err := c.c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()

	// A private address: the permission itself is refused.
	if err := c.c.CreatePermission(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 5000}); err == nil {
		t.Error("permission for 10.0.0.1 granted")
	}
	if _, err := relay.WriteTo([]byte("to the internal network"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 5000}); err == nil {
		t.Error("relay write to 10.0.0.1 succeeded")
	}
	if got := value(t, f.reg, "surge_turn_peer_denied_total", "what", "permission"); got < 1 {
		t.Errorf("peer_denied{what=permission} = %v", got)
	}

	// 127.0.0.1 is permitted for the SFU's media port only: another port
	// on the same address (here the stand-in for the admin port) is not.
	if _, err := relay.WriteTo([]byte("GET /debug/pprof/"), f.admin.LocalAddr()); err != nil {
		t.Fatalf("write to the admin port: %v (should be dropped silently)", err)
	}
	if got := f.echo(t, relay, "control", 2*time.Second); got != "re:control" {
		t.Fatalf("the media port is not reachable: %q", got)
	}
	_ = f.admin.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := f.admin.ReadFrom(make([]byte, 1500)); err == nil {
		t.Fatalf("the admin port received %d bytes through the relay", n)
	}
	// Nor may the admin port's address send to the client through it.
	relayAddr := relay.LocalAddr()
	if _, err := f.admin.WriteTo([]byte("from admin"), relayAddr); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := f.media.WriteTo([]byte("from media"), relayAddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = relay.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := relay.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "from media" {
		t.Fatalf("client received %q (%v), want only the media port's packet", buf[:n], err)
	}
	if got := value(t, f.reg, "surge_turn_peer_denied_total", "what", "packet"); got < 2 {
		t.Errorf("peer_denied{what=packet} = %v after one packet each way", got)
	}
	if off := f.guard.offLoopback(); len(off) > 0 {
		t.Fatalf("relay sockets tried to send off loopback: %v", off)
	}
}

// rawAllocate runs the two-step Allocate by hand so the test can set
// LIFETIME and read the response's.
func rawAllocate(t *testing.T, conn net.Conn, user, pass string, lifetime uint32) *stun.Message {
	t.Helper()
	transport := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
	var lt [4]byte
	binary.BigEndian.PutUint32(lt[:], lifetime)
	life := stun.RawAttribute{Type: stun.AttrLifetime, Value: lt[:]}
	allocate := stun.NewType(stun.MethodAllocate, stun.ClassRequest)
	first := stun.MustBuild(stun.TransactionID, allocate, transport, stun.Fingerprint)
	resp := roundTrip(t, conn, first.Raw)
	var nonce stun.Nonce
	var realm stun.Realm
	if nonce.GetFrom(resp) != nil || realm.GetFrom(resp) != nil {
		t.Fatalf("no challenge: %v", resp)
	}
	second := stun.MustBuild(stun.TransactionID, allocate, transport, life, stun.NewUsername(user), realm, nonce,
		stun.NewLongTermIntegrity(user, realm.String(), pass), stun.Fingerprint)
	return roundTrip(t, conn, second.Raw)
}

func roundTrip(t *testing.T, conn net.Conn, req []byte) *stun.Message {
	t.Helper()
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	m := &stun.Message{Raw: buf[:n]}
	if err := m.Decode(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAllocationLifetimeIsCapped(t *testing.T) {
	f := startTURN(t, func(c *Config) { c.MaxAllocationLifetime = 2 * time.Minute })
	for _, tc := range []struct{ ask, want uint32 }{{3600, 120}, {60, 60}} {
		conn, err := net.Dial("udp", f.srv.UDPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		user, pass := creds(fmt.Sprint("life", tc.ask))
		resp := rawAllocate(t, conn, user, pass, tc.ask)
		if resp.Type.Class != stun.ClassSuccessResponse {
			t.Fatalf("asked %d s: %v", tc.ask, resp)
		}
		v, err := resp.Get(stun.AttrLifetime)
		if err != nil || binary.BigEndian.Uint32(v) != tc.want {
			t.Errorf("asked %d s, granted %v s, want %d", tc.ask, v, tc.want)
		}
		// The response is signed with the client's key: the rewrite did not
		// break its integrity.
		realm := stun.NewRealm("surge")
		if err := stun.NewLongTermIntegrity(user, realm.String(), pass).Check(resp); err != nil {
			t.Errorf("response integrity: %v", err)
		}
		_ = conn.Close()
	}
}

// garbage is what the bad-input test throws at the listeners.
func garbage() [][]byte {
	rnd := make([]byte, 600)
	_, _ = rand.Read(rnd)
	header := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest)).Raw
	badAttrs := append(append([]byte(nil), header...), 0x00, 0x06, 0x01, 0x00) // USERNAME claiming 256 bytes
	binary.BigEndian.PutUint16(badAttrs[2:], 4)
	hugeChan := []byte{0x40, 0x00, 0xFF, 0xFF}
	fakeIntegrity := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		stun.NewUsername("1:x"), stun.NewRealm("surge"), stun.NewNonce("n"), stun.NewShortTermIntegrity("p")).Raw
	return [][]byte{rnd, rnd[:3], header[:19], badAttrs, hugeChan, fakeIntegrity, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), {}}
}

func TestGarbageLeavesTheServerAndExistingRelaysUp(t *testing.T) {
	f := startTURN(t, nil)
	user, pass := creds("alice")
	c := f.dial(t, "tcp", user, pass)
	relay, err := c.c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	if got := f.echo(t, relay, "before", 2*time.Second); got != "re:before" {
		t.Fatalf("before the garbage: %q", got)
	}

	for round := 0; round < 20; round++ {
		for _, g := range garbage() {
			if u, err := net.Dial("udp", f.srv.UDPAddr().String()); err == nil {
				_, _ = u.Write(g)
				_ = u.Close()
			}
			for _, addr := range []net.Addr{f.srv.TCPAddr(), f.srv.TLSAddr()} {
				tc, err := net.Dial("tcp", addr.String())
				if err != nil {
					t.Fatal(err)
				}
				_, _ = tc.Write(g)
				_ = tc.Close()
			}
		}
	}
	// A stream that starts with garbage is closed, not read forever.
	tc, err := net.Dial("tcp", f.srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tc.Write([]byte{0x80, 1, 2, 3, 4, 5, 6, 7})
	_ = tc.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := tc.Read(make([]byte, 10)); err == nil || isTimeout(err) {
		t.Errorf("garbage stream still open: %v", err)
	}
	_ = tc.Close()
	// A TLS client that talks plaintext gets nowhere either.
	if _, err := tls.Dial("tcp", f.srv.TCPAddr().String(), &tls.Config{RootCAs: f.pool, MinVersion: tls.VersionTLS12}); err == nil {
		t.Error("TLS handshake succeeded on the plain TCP port")
	}

	if got := f.echo(t, relay, "after", 2*time.Second); got != "re:after" {
		t.Fatalf("the existing relay stopped: %q", got)
	}
	user2, pass2 := creds("bob")
	for _, tr := range []string{"udp", "tcp", "tls"} {
		r, err := f.dial(t, tr, user2, pass2).c.Allocate()
		if err != nil {
			t.Fatalf("new %s allocation after the garbage: %v", tr, err)
		}
		if got := f.echo(t, r, "fresh", 2*time.Second); got != "re:fresh" {
			t.Fatalf("new %s relay: %q", tr, got)
		}
		r.Close()
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestCloseEndsEverything(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := startTURN(t, nil)
	var clients []*client
	var relays []net.PacketConn
	for _, tr := range []string{"udp", "tcp", "tls"} {
		user, pass := creds("alice-" + tr)
		c := f.dial(t, tr, user, pass)
		relay, err := c.c.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		relays = append(relays, relay)
	}
	idle, err := net.Dial("tcp", f.srv.TCPAddr().String()) // connected, silent
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	if live, open := f.srv.ledger.counts(); live != 0 || open != 0 {
		t.Errorf("after Close: %d allocations, %d relay sockets", live, open)
	}
	_ = idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("idle TCP connection left open by Close: %v", err)
	}
	_ = idle.Close()
	for i, c := range clients {
		_ = relays[i].Close() // stops the client's refresh timers
		c.close()
	}
}
