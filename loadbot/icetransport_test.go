package loadbot

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/loadbot/report"
	"github.com/surgertc/surge/sfu"
	"github.com/surgertc/surge/sfu/signal"
	"github.com/surgertc/surge/sfu/turn/turntest"
)

func TestICETransportPicksTURNURLsOfItsKind(t *testing.T) {
	joined := []signal.ICEServer{
		{URLs: []string{"stun:stun.example.com:3478"}},
		{URLs: []string{"turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp", "turns:127.0.0.1:5349?transport=tcp"}, Username: "1:a", Credential: "p"},
		{URLs: []string{"turn:coturn.example:3478"}, Username: "1:a", Credential: "q"},
	}
	for _, tc := range []struct {
		mode string
		want []string
	}{
		{ICEUDP, nil},
		{ICETCP, nil},
		{ICERelayUDP, []string{"turn:127.0.0.1:3478?transport=udp", "turn:coturn.example:3478"}},
		{ICERelayTCP, []string{"turn:127.0.0.1:3478?transport=tcp"}},
		{ICERelayTLS, []string{"turns:127.0.0.1:5349?transport=tcp"}},
	} {
		var got []string
		for _, s := range (iceTransport{mode: tc.mode}).servers(joined) {
			if s.Username == "" || s.Credential == nil {
				t.Errorf("%s: server without credentials %+v", tc.mode, s)
			}
			got = append(got, s.URLs...)
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: URLs %v, want %v", tc.mode, got, tc.want)
		}
	}
}

func TestPathOf(t *testing.T) {
	for _, tc := range []struct {
		c    webrtc.ICECandidate
		mode string
		want string
	}{
		{webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeHost, Protocol: webrtc.ICEProtocolUDP}, ICEUDP, ICEUDP},
		{webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeHost, Protocol: webrtc.ICEProtocolTCP}, ICETCP, ICETCP},
		{webrtc.ICECandidate{Typ: webrtc.ICECandidateTypePrflx, Protocol: webrtc.ICEProtocolUDP}, ICEUDP, ICEUDP},
		{webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeRelay, Protocol: webrtc.ICEProtocolUDP}, ICERelayTLS, ICERelayTLS},
		// A host pair in a relay run shows as what it is, not as the mode.
		{webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeHost, Protocol: webrtc.ICEProtocolUDP}, ICERelayUDP, ICEUDP},
	} {
		if got := pathOf(&tc.c, tc.mode); got != tc.want {
			t.Errorf("pathOf(%s %s, %s) = %s, want %s", tc.c.Typ, tc.c.Protocol, tc.mode, got, tc.want)
		}
	}
}

// TestBotsTakeTheForcedPath runs the same small scenario over each path an
// SFU with ICE-TCP and the embedded TURN server (UDP, TCP, TLS) offers; the
// report must show every bot on that path, with media and, for relays, the
// TURN allocation stage.
func TestBotsTakeTheForcedPath(t *testing.T) {
	cert, key, _ := turntest.Cert(t)
	s := startSFU(t, func(c *sfu.Config) {
		c.RTC.TCPAddr = "127.0.0.1:0"
		c.TURN.Enabled = true
		c.TURN.UDPAddr, c.TURN.TCPAddr, c.TURN.TLSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		c.TURN.CertFile, c.TURN.KeyFile = cert, key
	})
	for _, mode := range []string{ICETCP, ICERelayUDP, ICERelayTCP, ICERelayTLS} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(s)
			cfg.RoomPrefix = "path-" + mode
			cfg.Duration = 3 * time.Second
			cfg.ICETransport = mode
			if mode == ICERelayTLS {
				cfg.TURNCA = cert
			}
			res := runQuiet(t, cfg)
			sum := res.Report.Summary
			if sum.Bots.Connected != 3 || sum.Bots.Failed != 0 {
				_ = report.WriteTable(os.Stderr, &res.Report)
				t.Fatalf("bots %+v, failures %v", sum.Bots, sum.JoinFailures)
			}
			if p := sum.Paths[mode]; p.Bots != 3 || len(sum.Paths) != 1 {
				t.Errorf("paths %+v, want all 3 bots on %s", sum.Paths, mode)
			}
			if p := sum.Paths[mode]; p.LatencyMs.P50 <= 0 {
				t.Errorf("no latency measured on %s: %+v", mode, p)
			}
			relay := strings.HasPrefix(mode, "relay-")
			for _, b := range res.Report.Rooms[0].Bots {
				if b.Path != mode {
					t.Errorf("bot %s took %q", b.ID, b.Path)
				}
				if relay && b.TURNAllocationMs <= 0 {
					t.Errorf("bot %s: no TURN allocation time", b.ID)
				}
				if b.Role == "subscriber" && b.Frames == 0 {
					t.Errorf("bot %s received no frames over %s", b.ID, mode)
				}
			}
			if relay && (sum.TURNAllocationMs.P50 <= 0 || sum.TURNAllocationMs.P99 < sum.TURNAllocationMs.P50) {
				t.Errorf("summary TURN allocation %+v", sum.TURNAllocationMs)
			}
			t.Logf("%s: join p50 %.0f ms, TURN allocation p50 %.0f ms, latency p50 %.1f ms, loss %.2f %%",
				mode, sum.JoinMs.P50, sum.TURNAllocationMs.P50, sum.Paths[mode].LatencyMs.P50, sum.Paths[mode].LossPct)
		})
	}
}

func TestRelayBotsFailClearlyWithoutTURN(t *testing.T) {
	s := startSFU(t)
	cfg := testConfig(s)
	cfg.Duration = 2 * time.Second
	cfg.ICETransport = ICERelayUDP
	sum := runQuiet(t, cfg).Report.Summary
	if sum.Bots.Connected != 0 || sum.JoinFailures[FailTURN] == 0 {
		t.Fatalf("bots %+v, failures %v; want every relay bot to fail with %s", sum.Bots, sum.JoinFailures, FailTURN)
	}
}

// runQuiet runs cfg to the end with a silent logger.
func runQuiet(t *testing.T, cfg Config) *Result {
	t.Helper()
	r, err := NewRunner(cfg, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}
