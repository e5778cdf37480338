package turn

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/stun"

	"github.com/surgertc/surge/metrics"
)

// tapServer is the part of a Server a tap needs, without listeners.
func tapServer(quota int) *Server {
	cfg := DefaultConfig()
	cfg.UserQuota = quota
	cfg.MaxAllocationLifetime = 2 * time.Minute
	return &Server{cfg: cfg, secret: testSecret, now: time.Now, m: metrics.NewTURN(nil), ledger: newLedger(quota, nil),
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func signedAllocate(t testing.TB, user, pass string, lifetime uint32) []byte {
	var lt [4]byte
	binary.BigEndian.PutUint32(lt[:], lifetime)
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}},
		stun.RawAttribute{Type: stun.AttrLifetime, Value: lt[:]},
		stun.NewUsername(user), stun.NewRealm("surge"), stun.NewNonce("nonce"),
		stun.NewLongTermIntegrity(user, "surge", pass), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

func TestTapCapsLifetimeAndEnforcesQuota(t *testing.T) {
	tp := &tap{srv: tapServer(1), transport: metrics.TURNUDP, listener: "127.0.0.1:3478"}
	user, pass := Mint(testSecret, "alice", time.Hour, time.Now())
	src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	fwd, reply := tp.inbound(signedAllocate(t, user, pass, 3600), src)
	if reply != nil || fwd == nil {
		t.Fatalf("first allocation: forward %v, reply %v", fwd != nil, reply != nil)
	}
	m := &stun.Message{Raw: fwd}
	if err := m.Decode(); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Get(stun.AttrLifetime); binary.BigEndian.Uint32(v) != 120 {
		t.Errorf("lifetime forwarded %v, want the 120 s cap", v)
	}
	if err := stun.NewLongTermIntegrity(user, "surge", pass).Check(m); err != nil {
		t.Errorf("re-signed request fails pion's integrity check: %v", err)
	}
	if err := stun.Fingerprint.Check(m); err != nil {
		t.Errorf("re-signed request's fingerprint: %v", err)
	}
	// A second 5-tuple of the same identity is over the quota of 1.
	fwd, reply = tp.inbound(signedAllocate(t, user, pass, 600), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5001})
	if fwd != nil || reply == nil {
		t.Fatalf("allocation beyond quota: forwarded %v, reply %v", fwd != nil, reply != nil)
	}
	resp := &stun.Message{Raw: reply}
	var code stun.ErrorCodeAttribute
	if resp.Decode() != nil || code.GetFrom(resp) != nil || code.Code != stun.CodeAllocQuotaReached {
		t.Fatalf("quota reply %v (%v)", resp, code)
	}
	if err := stun.NewLongTermIntegrity(user, "surge", pass).Check(resp); err != nil {
		t.Errorf("486 not signed with the client's key: %v", err)
	}
}

func FuzzTapInbound(f *testing.F) {
	user, pass := Mint(testSecret, "alice", time.Hour, time.Now())
	f.Add(signedAllocate(f, user, pass, 3600))
	f.Add(signedAllocate(f, user, pass+"x", 60))
	f.Add([]byte{0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4})
	f.Add([]byte{0x00, 0x03, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Fuzz(func(t *testing.T, msg []byte) {
		tp := &tap{srv: tapServer(2), transport: metrics.TURNUDP, listener: "l"}
		orig := append([]byte(nil), msg...)
		fwd, reply := tp.inbound(msg, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1})
		if string(msg) != string(orig) {
			t.Fatal("inbound modified its input")
		}
		if fwd != nil && string(fwd) != string(msg) && !stun.IsMessage(fwd) {
			t.Fatal("rewrote a message into something that is not STUN")
		}
		if reply != nil && !stun.IsMessage(reply) {
			t.Fatal("replied with something that is not STUN")
		}
		tp.outbound(msg, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1})
	})
}
