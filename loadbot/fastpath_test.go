package loadbot

import (
	"testing"
	"time"

	"github.com/surgertc/surge/sfu"
)

// livePackets is what the subscriber's current session received: packets
// on tracks not finished by a lost session.
func livePackets(s *subscriber) (live uint64, tracks, finished int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tracks {
		if t.final {
			finished++
			continue
		}
		live += t.st.Snapshot().PacketsReceived
		tracks++
	}
	return live, tracks, finished
}

// Bots forced onto ICE-TCP or a TURN relay get their media framed on
// sockets the fast path cannot read: it must reach them through Pion's
// path, with their RTCP written through Pion too, rather than be lost.
func TestForcedPathSubscribersReceiveThroughPion(t *testing.T) {
	s := startSFU(t, func(c *sfu.Config) {
		c.RTC.TCPAddr = "127.0.0.1:0"
		c.TURN.Enabled = true
		c.TURN.UDPAddr, c.TURN.TCPAddr = "127.0.0.1:0", "127.0.0.1:0"
	})
	for _, mode := range []string{ICETCP, ICERelayUDP, ICERelayTCP} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(s)
			cfg.RoomPrefix = "pion-" + mode
			cfg.ICETransport = mode
			bots := runSession(t, cfg, 4*time.Second, nil, nil)
			_, plain := subscribers(bots)
			if len(plain) != 2 {
				t.Fatalf("%d subscribers", len(plain))
			}
			for _, b := range plain {
				pkts, _, _ := received(b)
				if pkts < 100 {
					t.Fatalf("%s received %d packets over %s", b.spec.id, pkts, mode)
				}
				// Every packet the tracks saw, duplicates and late ones
				// (a retransmission after its original) included.
				var seen uint64
				for _, sn := range b.sub.snapshots() {
					seen += sn.PacketsReceived + sn.Duplicates + sn.Late
				}
				if n := uint64(b.sub.viaPion.Load()); n < seen {
					t.Errorf("%s: %d of %d packets through Pion, want all", b.spec.id, n, seen)
				}
				b.sub.mu.Lock()
				keyed := b.sub.rtcpOut != nil
				b.sub.mu.Unlock()
				if keyed {
					t.Errorf("%s writes RTCP to a socket its media does not arrive on", b.spec.id)
				}
				if got := b.icePath(); got != mode {
					t.Errorf("%s took %q", b.spec.id, got)
				}
			}
		})
	}
}

// A subscriber that reconnects has a new DTLS connection: its new socket
// must recover the new keys and carry the new session's media and RTCP on
// the fast path, in new tracks, the lost session's being finished.
func TestReconnectedSubscriberIsBackOnItsSocket(t *testing.T) {
	cfg, _ := drainMidRun(t)
	cfg.Reconnect = true
	since := map[*bot]uint64{} // packets of the new session, once all are back
	back := func(bots []*bot) bool {
		n := 0
		got := map[*bot]uint64{}
		for _, bt := range bots {
			sub := bt.subscriber()
			if sub == nil {
				continue
			}
			bt.mu.Lock()
			rc := bt.rc.reconnects
			bt.mu.Unlock()
			// The lost session's tracks are finished, the new one's
			// (audio and video) receive.
			live, tracks, finished := livePackets(sub)
			if rc == 0 || live < 100 || tracks < 2 || finished == 0 {
				return false
			}
			got[bt] = live
			n++
		}
		if n == cfg.Subscribers {
			since = got
		}
		return n == cfg.Subscribers
	}
	bots := runSession(t, cfg, 15*time.Second, nil, back)
	_, plain := subscribers(bots)
	if len(plain) != 2 {
		t.Fatalf("%d subscribers", len(plain))
	}
	for _, bt := range plain {
		if since[bt] < 100 {
			t.Fatalf("%s: %d reconnects, %d packets in new tracks since", bt.spec.id, bt.rc.reconnects, since[bt])
		}
		if n := bt.sub.viaPion.Load(); n != 0 {
			t.Errorf("%s: %d packets took Pion's path", bt.spec.id, n)
		}
		bt.sub.mu.Lock()
		keyed := bt.sub.rtcpOut != nil
		bt.sub.mu.Unlock()
		if !keyed {
			t.Errorf("%s sends its RTCP through Pion after the reconnect", bt.spec.id)
		}
	}
}
