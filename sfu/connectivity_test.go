package sfu

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
	pionturn "github.com/pion/turn/v2"
	"github.com/pion/webrtc/v3"
	"go.uber.org/goleak"

	"github.com/surgertc/surge/metrics/metricstest"
	"github.com/surgertc/surge/sfu/signal"
	"github.com/surgertc/surge/sfu/turn"
)

// withTURN enables the embedded TURN server on free loopback ports.
func withTURN(c *Config) {
	c.TURN.Enabled = true
	c.TURN.UDPAddr, c.TURN.TCPAddr, c.TURN.TLSAddr = "127.0.0.1:0", "127.0.0.1:0", ""
	c.TURN.Secret = "connectivity-test-secret"
}

func TestJoinedCarriesPerJoinTURNCredentials(t *testing.T) {
	s := startServer(t, func(c *Config) {
		withTURN(c)
		c.TURN.CredentialTTL = 2 * time.Hour
		c.RTC.ICEServers = []signal.ICEServer{{URLs: []string{"stun:stun.example.com:3478"}}}
		c.TURN.External = []turn.External{{URLs: []string{"turn:turn.example.com:3478?transport=udp"}, Secret: "coturn-secret"}}
	})
	udp, tcp, _ := s.TURNAddrs()
	alice, bob := join(t, s, "creds", "alice"), join(t, s, "creds", "bob")
	for _, c := range []*testClient{alice, bob} {
		servers := c.joined.ICEServers
		if len(servers) != 3 {
			t.Fatalf("%s: ice_servers %+v, want static, embedded, external", c.joined.Identity, servers)
		}
		if servers[0].URLs[0] != "stun:stun.example.com:3478" || servers[0].Username != "" {
			t.Errorf("static entry changed: %+v", servers[0])
		}
		emb, ext := servers[1], servers[2]
		wantURLs := []string{"turn:" + udp.String() + "?transport=udp", "turn:" + tcp.String() + "?transport=tcp"}
		if strings.Join(emb.URLs, " ") != strings.Join(wantURLs, " ") {
			t.Errorf("embedded URLs %v, want %v", emb.URLs, wantURLs)
		}
		for _, e := range []struct {
			srv    signal.ICEServer
			secret string
		}{{emb, "connectivity-test-secret"}, {ext, "coturn-secret"}} {
			expiry, identity, err := turn.ParseUsername(e.srv.Username)
			if err != nil || identity != c.joined.Identity {
				t.Errorf("username %q: identity %q, %v", e.srv.Username, identity, err)
			}
			if d := time.Until(expiry); d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Second {
				t.Errorf("credential expires in %s, want turn.credential_ttl (2h)", d)
			}
			if e.srv.Credential != turn.Password(e.secret, e.srv.Username) {
				t.Errorf("credential for %v is not HMAC-SHA1 of the username with that server's secret", e.srv.URLs)
			}
		}
	}
	if alice.joined.ICEServers[1].Username == bob.joined.ICEServers[1].Username {
		t.Error("two participants got the same TURN username")
	}
}

// udpBlocked is a network where no UDP socket can be opened: a client
// behind a firewall that lets only TCP out.
type udpBlocked struct{ *stdnet.Net }

var errUDPBlocked = errors.New("udp blocked by the test's firewall")

func (udpBlocked) ListenUDP(string, *net.UDPAddr) (transport.UDPConn, error) {
	return nil, errUDPBlocked
}
func (udpBlocked) DialUDP(string, *net.UDPAddr, *net.UDPAddr) (transport.UDPConn, error) {
	return nil, errUDPBlocked
}

func (u udpBlocked) ListenPacket(network, address string) (net.PacketConn, error) {
	if strings.HasPrefix(network, "udp") {
		return nil, errUDPBlocked
	}
	return u.Net.ListenPacket(network, address)
}

func (u udpBlocked) Dial(network, address string) (net.Conn, error) {
	if strings.HasPrefix(network, "udp") {
		return nil, errUDPBlocked
	}
	return u.Net.Dial(network, address)
}

func blockUDP(t *testing.T) func(*webrtc.SettingEngine) {
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	return func(se *webrtc.SettingEngine) { se.SetNet(udpBlocked{n}) }
}

// selectedLocal is the local candidate of pc's selected pair.
func selectedLocal(pc *webrtc.PeerConnection) *webrtc.ICECandidate {
	pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return nil
	}
	return pair.Local
}

// mediaFlows publishes from pub and waits until sub has received more than
// 100 video packets; it returns the receiving track and what stops the
// publisher's pumps (also run at cleanup).
func mediaFlows(t *testing.T, pub, sub *testClient) (*recvTrack, func()) {
	t.Helper()
	audio, video, _ := pub.publish()
	ap := startPump(audio, 20*time.Millisecond, 80, 960)
	vp := startPump(video, 10*time.Millisecond, 1000, 3000)
	var once sync.Once
	stop := func() { once.Do(func() { ap.halt(); vp.halt() }) }
	t.Cleanup(stop)
	eventually(t, 20*time.Second, "both tracks at the subscriber", func() bool { return sub.trackCount() == 2 })
	var v *recvTrack
	sub.mu.Lock()
	for _, tr := range sub.tracks {
		if tr.track.Kind() == webrtc.RTPCodecTypeVideo {
			v = tr
		}
	}
	sub.mu.Unlock()
	eventually(t, 15*time.Second, "100 video packets", func() bool { return v.count() > 100 })
	return v, stop
}

func TestICETCPWhenUDPIsBlocked(t *testing.T) {
	s := startServer(t, func(c *Config) { c.RTC.TCPAddr = "127.0.0.1:0" })
	tcpOnly := func(c *testClient) {
		block := blockUDP(t)
		c.api = clientAPIWith(t, func(se *webrtc.SettingEngine) {
			block(se)
			se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
		})
	}
	pub := dialWith(t, s, devToken(t, "tcp", "alice"), tcpOnly)
	pub.waitFor(signal.TypeJoined, 10*time.Second)
	sub := dialWith(t, s, devToken(t, "tcp", "bob"), tcpOnly)
	sub.waitFor(signal.TypeJoined, 10*time.Second)
	mediaFlows(t, pub, sub)
	for name, pc := range map[string]*webrtc.PeerConnection{"alice's publisher": pub.pub, "bob's subscriber": sub.sub} {
		if l := selectedLocal(pc); l == nil || l.Protocol != webrtc.ICEProtocolTCP {
			t.Errorf("%s: selected local candidate %v, want TCP", name, l)
		}
	}
	// The SFU learns an ICE-TCP client's address from its checks (active
	// candidates are not signaled with a port), so its type is prflx.
	eventually(t, 5*time.Second, "the SFU to count two ICE-TCP connections", func() bool {
		return pathCount(t, s, "tcp") == 2
	})
	if n := pathCount(t, s, "udp"); n != 0 {
		t.Errorf("%v UDP connections counted with UDP blocked", n)
	}
	pub.close()
	sub.close()
	eventually(t, 10*time.Second, "the ICE path gauge to drop to zero", func() bool { return pathCount(t, s, "tcp") == 0 })
}

// relayOnly makes a client connect through the TURN URLs of joined that
// keep accepts, and nothing else (iceTransportPolicy relay).
func relayOnly(t *testing.T, keep func(url string) bool, adjust func(*webrtc.SettingEngine)) func(*testClient) {
	return func(c *testClient) {
		c.api = clientAPIWith(t, adjust)
		c.pcCfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
		c.iceFromJoined = func(in []signal.ICEServer) []webrtc.ICEServer {
			var out []webrtc.ICEServer
			for _, s := range in {
				var urls []string
				for _, u := range s.URLs {
					if keep(u) {
						urls = append(urls, u)
					}
				}
				if len(urls) > 0 {
					out = append(out, webrtc.ICEServer{URLs: urls, Username: s.Username, Credential: s.Credential})
				}
			}
			return out
		}
	}
}

func joinRelayed(t *testing.T, s *Server, room, identity string, setup func(*testClient)) *testClient {
	t.Helper()
	c := dialWith(t, s, devToken(t, room, identity), setup)
	c.joined = c.waitFor(signal.TypeJoined, 10*time.Second)
	c.id = c.joined.ParticipantID
	return c
}

func TestRelayedCallThroughEmbeddedTURN(t *testing.T) {
	for _, tc := range []struct {
		name   string
		url    string
		adjust func(*testing.T) func(*webrtc.SettingEngine)
	}{
		{"udp", "?transport=udp", func(*testing.T) func(*webrtc.SettingEngine) { return nil }},
		// Over TCP the client cannot use UDP at all: only its TURN/TCP
		// connection carries media.
		{"tcp", "?transport=tcp", blockUDP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			s := startServer(t, withTURN)
			keep := func(u string) bool { return strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, tc.url) }
			pub := joinRelayed(t, s, "relay-"+tc.name, "alice", relayOnly(t, keep, tc.adjust(t)))
			sub := joinRelayed(t, s, "relay-"+tc.name, "bob", relayOnly(t, keep, tc.adjust(t)))
			_, stop := mediaFlows(t, pub, sub)
			for name, pc := range map[string]*webrtc.PeerConnection{"alice's publisher": pub.pub, "bob's subscriber": sub.sub} {
				if l := selectedLocal(pc); l == nil || l.Typ != webrtc.ICECandidateTypeRelay {
					t.Errorf("%s: selected local candidate %v, want relay", name, l)
				}
			}
			if n := sample(t, s, "surge_turn_allocations", "transport", tc.name); n < 2 {
				t.Errorf("surge_turn_allocations{transport=%q} = %v with two relayed connections", tc.name, n)
			}
			for _, dir := range []string{"to_peer", "to_client"} {
				if n := sample(t, s, "surge_turn_relayed_packets_total", "direction", dir); n < 100 {
					t.Errorf("relayed packets %s = %v", dir, n)
				}
			}
			eventually(t, 5*time.Second, "the SFU to count two relayed connections", func() bool {
				return sample(t, s, "surge_ice_selected_pairs", "candidate_type", "relay", "protocol", "udp") == 2
			})
			// Leaving and closing free every relay and goroutine.
			stop()
			pub.close()
			sub.close()
			eventually(t, 10*time.Second, "the relays to be released", func() bool {
				return sample(t, s, "surge_turn_allocations", "transport", tc.name) == 0
			})
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
}

// TestRelayedCallSurvivesBadTURNInput throws every kind of bad TURN input at
// the embedded server while a relayed call runs: refused credentials, an
// identity over its quota, relay requests into the operator's network and
// garbage on the TURN ports. The call goes on; the server stays healthy.
func TestRelayedCallSurvivesBadTURNInput(t *testing.T) {
	s := startServer(t, func(c *Config) {
		withTURN(c)
		c.TURN.UserQuota = 3
	})
	udpAddr, tcpAddr, _ := s.TURNAddrs()
	keep := func(u string) bool { return strings.HasSuffix(u, "?transport=udp") }
	pub := joinRelayed(t, s, "bad-turn", "alice", relayOnly(t, keep, nil))
	sub := joinRelayed(t, s, "bad-turn", "bob", relayOnly(t, keep, nil))
	video, _ := mediaFlows(t, pub, sub)

	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	allocate := func(user, pass string) (net.PacketConn, *pionturn.Client, error) {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		c, err := pionturn.NewClient(&pionturn.ClientConfig{TURNServerAddr: udpAddr.String(), Conn: conn, Username: user, Password: pass, LoggerFactory: lf, RTO: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if err := c.Listen(); err != nil {
			t.Fatal(err)
		}
		relay, err := c.Allocate()
		if err == nil {
			t.Cleanup(func() { _ = relay.Close() })
		}
		return relay, c, err
	}
	mint := func(identity string, at time.Time) (string, string) {
		return turn.Mint("connectivity-test-secret", identity, time.Hour, at)
	}

	user, pass := mint("mallory", time.Now())
	if _, _, err := allocate(user, pass+"x"); err == nil {
		t.Error("wrong password: allocation granted")
	}
	if _, _, err := allocate(mint("mallory", time.Now().Add(-2*time.Hour))); err == nil {
		t.Error("expired credentials: allocation granted")
	}
	var relay net.PacketConn
	var mc *pionturn.Client
	for i := 0; i < 3; i++ {
		r, c, err := allocate(mint("mallory", time.Now()))
		if err != nil {
			t.Fatalf("allocation %d within the quota: %v", i+1, err)
		}
		relay, mc = r, c
	}
	if _, _, err := allocate(mint("mallory", time.Now())); err == nil || !strings.Contains(err.Error(), "486") {
		t.Errorf("allocation beyond the quota: %v, want 486", err)
	}

	// Relaying into the operator's network: the admin port on loopback (a
	// UDP socket stands in on its port number), and a private address.
	adminPort := s.admLn.Addr().(*net.TCPAddr).Port
	admin, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: adminPort})
	if err != nil {
		t.Fatalf("bind UDP on the admin port number: %v", err)
	}
	defer admin.Close()
	if _, err := relay.WriteTo([]byte("GET /debug/pprof/ HTTP/1.1\r\n\r\n"), admin.LocalAddr()); err != nil {
		t.Logf("relay to 127.0.0.1:%d: %v", adminPort, err)
	}
	_ = admin.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, _, err := admin.ReadFrom(make([]byte, 1500)); err == nil {
		t.Errorf("127.0.0.1:%d (the admin port) received %d bytes through the relay", adminPort, n)
	}
	if err := mc.CreatePermission(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 80}); err == nil {
		t.Error("permission to relay to 10.0.0.1 granted")
	}

	// Garbage on the TURN ports.
	for i := 0; i < 50; i++ {
		for _, g := range [][]byte{{0xff, 0xff, 0xff}, []byte(strings.Repeat("\x00", 40)), []byte("GET / HTTP/1.1\r\n\r\n"), {0x40, 0x00, 0xff, 0xff, 1, 2}} {
			if c, err := net.Dial("udp", udpAddr.String()); err == nil {
				_, _ = c.Write(g)
				_ = c.Close()
			}
			if c, err := net.Dial("tcp", tcpAddr.String()); err == nil {
				_, _ = c.Write(g)
				_ = c.Close()
			}
		}
	}

	// The relayed call goes on, and the server is healthy.
	before := video.count()
	eventually(t, 10*time.Second, "100 more video packets after the bad input", func() bool { return video.count() > before+100 })
	if code, _ := httpStatus(t, s.AdminURL()+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	for reason, min := range map[string]float64{"unauthorized": 1, "expired": 1, "quota": 1} {
		if n := sample(t, s, "surge_turn_allocation_failures_total", "reason", reason); n < min {
			t.Errorf("allocation failures{reason=%q} = %v", reason, n)
		}
	}
	for _, what := range []string{"permission", "packet"} {
		if n := sample(t, s, "surge_turn_peer_denied_total", "what", what); n < 1 {
			t.Errorf("peer denied{what=%q} = %v", what, n)
		}
	}
}

// pathCount sums surge_ice_selected_pairs over candidate types.
func pathCount(t *testing.T, s *Server, protocol string) float64 {
	t.Helper()
	n := 0.0
	for _, typ := range []string{"host", "srflx", "prflx", "relay"} {
		n += sample(t, s, "surge_ice_selected_pairs", "candidate_type", typ, "protocol", protocol)
	}
	return n
}

// sample reads one labelled sample (counter or gauge) from s's registry.
func sample(t *testing.T, s *Server, name string, labels ...string) float64 {
	t.Helper()
	return metricstest.Value(t, s.Registry(), name, labels...)
}
