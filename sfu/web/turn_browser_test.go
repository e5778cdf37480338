package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/surgertc/surge/metrics/metricstest"
	"github.com/surgertc/surge/sfu"
)

// selectedPair is the selected ICE pair of a page's connection, from
// getStats: the local candidate's type, protocol and (for a relay) how it
// reaches its TURN server.
type selectedPair struct {
	Local         string `json:"local"`
	Protocol      string `json:"protocol"`
	RelayProtocol string `json:"relayProtocol"`
	Address       string `json:"address"`
	Remote        string `json:"remote"`
}

const selectedPairJS = `(async (pc) => {
  if (!pc) return null;
  const r = await pc.getStats();
  let out = null;
  r.forEach((s) => {
    if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
    const p = r.get(s.selectedCandidatePairId);
    const l = p && r.get(p.localCandidateId);
    const rm = p && r.get(p.remoteCandidateId);
    if (!l || !rm) return;
    out = {local: l.candidateType, protocol: l.protocol, relayProtocol: l.relayProtocol || '',
      address: l.address + ':' + l.port, remote: rm.candidateType + ' ' + rm.address + ':' + rm.port};
  });
  return out;
})(window.surge.client && window.surge.client.%s)`

// TestBrowserRelaysThroughEmbeddedTURN: two Chromium pages with
// iceTransportPolicy 'relay' (?relay=1) can only reach the SFU through the
// TURN server that joined.ice_servers names, with the credentials minted for
// their join. Over TURN/UDP, then TURN/TCP (an SFU whose embedded TURN
// server listens on TCP alone), alice publishes and bob decodes her video,
// and both ends agree the path is a relay.
func TestBrowserRelaysThroughEmbeddedTURN(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium; not in -short")
	}
	b := startBrowser(t)
	for _, transport := range []string{"udp", "tcp"} {
		ok := t.Run(transport, func(t *testing.T) {
			s := startSFU(t, func(c *sfu.Config) {
				c.TURN.Enabled = true
				c.TURN.UDPAddr, c.TURN.TCPAddr, c.TURN.TLSAddr = "", "", ""
				if transport == "udp" {
					c.TURN.UDPAddr = "127.0.0.1:0"
				} else {
					c.TURN.TCPAddr = "127.0.0.1:0"
				}
			})
			base := "http://" + strings.TrimSuffix(strings.TrimPrefix(s.URL(), "ws://"), "/rtc")
			room := "turn-" + transport
			alice := b.open(t, "alice-"+transport, base+"/?relay=1&room="+room+"&name=alice")
			join(t, alice)
			bob := b.open(t, "bob-"+transport, base+"/?relay=1&publish=0&room="+room+"&name=bob")
			join(t, bob)

			bob.waitFor(t, 45*time.Second, "bob to decode alice's video through TURN/"+transport, func() string {
				st := bob.stats(t)
				_, v, _ := st.peer("alice")
				in := st.inbound(v)
				if in == nil || in.FramesDecoded < 30 {
					return fmt.Sprintf("inbound video %+v", in)
				}
				return ""
			})
			for _, c := range []struct {
				p  *page
				pc string
			}{{alice, "publisher"}, {bob, "subscriber"}} {
				var sp *selectedPair
				c.p.mustEval(t, fmt.Sprintf(selectedPairJS, c.pc), &sp)
				if sp == nil || sp.Local != "relay" || sp.RelayProtocol != transport {
					c.p.dump(t)
					t.Fatalf("%s's %s connection: selected pair %+v, want a relay candidate reached over %s", c.p.name, c.pc, sp, transport)
				}
				t.Logf("%s's %s: local %s (%s to the TURN server) %s, remote %s", c.p.name, c.pc, sp.Local, sp.RelayProtocol, sp.Address, sp.Remote)
			}
			// The SFU's side: the relays are the embedded server's, and it
			// counts both connections as relayed.
			if n := metric(t, s, "surge_turn_allocations", "transport", transport); n < 2 {
				t.Errorf("surge_turn_allocations{transport=%q} = %v with two relayed pages", transport, n)
			}
			if n := metric(t, s, "surge_ice_selected_pairs", "candidate_type", "relay", "protocol", "udp"); n < 2 {
				t.Errorf("surge_ice_selected_pairs{candidate_type=relay} = %v", n)
			}
			if n := metric(t, s, "surge_turn_relayed_packets_total", "direction", "to_client"); n < 100 {
				t.Errorf("only %v packets relayed to the pages", n)
			}
		})
		if !ok {
			break
		}
	}
}

// metric reads one labelled sample from s's registry.
func metric(t *testing.T, s *sfu.Server, name string, labels ...string) float64 {
	t.Helper()
	return metricstest.Value(t, s.Registry(), name, labels...)
}
