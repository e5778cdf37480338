package sfu

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/surgertc/surge/sfu/signal"
	"github.com/surgertc/surge/sfu/srtpfast"
)

// benchWire is the fast send path of a real subscriber for the fan-out
// benchmarks: every DownTrack seals with its own AEAD_AES_128_GCM keys (what
// Chromium negotiates) into the batch, and the batch goes out with sendmmsg
// on the media socket's send-only twin, as the server's do, to a socket per
// subscriber that nobody reads (the kernel drops what overflows it; the
// send side's cost is all there). One sink for all would make the kernel
// serialise the deliveries on its lock, which no real room does.
type benchWire struct {
	sock    *sendSocket
	workers int
}

func newBenchWire(tb testing.TB, workers int) *benchWire {
	tb.Helper()
	return &benchWire{sock: mediaSendSocket(tb, "127.0.0.1:0", true, false), workers: workers}
}

// mediaSendSocket is the fast path's send socket on a media socket bound
// to addr, both closed at the test's end, as the server sets them up. With
// needGSO the test skips where the kernel has no UDP GSO; an IPv6 addr
// skips where there is no IPv6 loopback.
func mediaSendSocket(tb testing.TB, addr string, gso, needGSO bool) *sendSocket {
	tb.Helper()
	pc, err := listenMedia(addr)
	if err != nil {
		if strings.HasPrefix(addr, "[") {
			tb.Skipf("no IPv6 loopback: %v", err)
		}
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pc.Close() })
	sock, err := newSendSocket(pc.(*net.UDPConn), gso)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sock.Close() })
	if needGSO && !sock.gso.Load() {
		tb.Skipf("no UDP GSO here: %v", sock.noGSO)
	}
	return sock
}

func loopbackUDP(tb testing.TB) *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// downlink is one subscriber's send side with its own SRTP keys.
func (w *benchWire) downlink(tb testing.TB, srv *Server) *downlink {
	dl := newDownlink(srv.cfg.BWE.estimator(), srv.cfg.BWE.prober(), w.sock, nil, time.Now())
	p := srtpfast.AEADAES128GCM
	key, salt := make([]byte, p.KeyLen()), make([]byte, p.SaltLen())
	for i := range key {
		key[i] = byte(i + len(tb.Name()))
	}
	to := newDest(netip.MustParseAddrPort(loopbackUDP(tb).LocalAddr().String()))
	dl.route.Store(&route{to: to, profile: p, key: key, salt: salt})
	return dl
}

// BenchmarkFanout compares the serial fan-out with the split over workers
// at the room sizes the threshold is about, on the path a real subscriber
// takes (SRTP sealing, batches, sendmmsg). ns/sub is wall time per
// subscriber, what the last subscriber of a packet waits; cpu-ns/sub is the
// process's CPU time per subscriber, what a server pays. The split should
// lower the first at the price of some of the second (on two cores it
// costs about the same CPU and, from a few hundred subscribers, waits less:
// docs/performance.md).
func BenchmarkFanout(b *testing.B) {
	split := max(resolveFanoutWorkers(-1), 1)
	for _, n := range []int{100, 250} {
		for _, workers := range []int{0, split} {
			name := "serial"
			if workers > 0 {
				name = fmt.Sprintf("split_workers=%d", workers)
			}
			b.Run(fmt.Sprintf("subs=%d/%s", n, name), func(b *testing.B) {
				benchFanout(b, buildFanout(b, n, newBenchWire(b, workers)))
			})
		}
	}
}

// TestFanoutWorkersReachEverySubscriber: a split fan-out writes each packet
// to every subscriber exactly once, whatever the shards, and stays free of
// allocations.
func TestFanoutWorkersReachEverySubscriber(t *testing.T) {
	for _, tc := range []struct{ subs, workers int }{{2, 1}, {3, 2}, {7, 3}, {10, 9}, {5, 8}} {
		t.Run(fmt.Sprintf("subs=%d/workers=%d", tc.subs, tc.workers), func(t *testing.T) {
			f := newFanout(t, tc.subs)
			f.ul.fan = fanoutWorkers{n: tc.workers, threshold: 1, newBatch: f.r.pub.srv.batch}
			defer f.ul.fan.stop()
			for i := 0; i < 50; i++ {
				f.next()
				f.forward()
			}
			if !f.ul.fan.started {
				t.Fatal("the fan-out never went to the workers")
			}
			if a := testing.AllocsPerRun(100, func() { f.next(); f.forward() }); a != 0 {
				t.Errorf("a split fan-out allocates %.1f times per packet", a)
			}
			f.checkForwarded(t, 1+50+101)
		})
	}
}

// TestFanoutBelowThresholdIsSerial: small rooms do not wake workers.
func TestFanoutBelowThresholdIsSerial(t *testing.T) {
	f := newFanout(t, 3)
	f.ul.fan = fanoutWorkers{n: 2, threshold: 4, newBatch: f.r.pub.srv.batch}
	defer f.ul.fan.stop()
	f.next()
	f.forward()
	if f.ul.fan.started {
		t.Fatal("workers started for 3 subscribers with a threshold of 4")
	}
	f.checkForwarded(t, 2)
}

func TestResolveFanoutWorkers(t *testing.T) {
	if got := resolveFanoutWorkers(3); got != 3 {
		t.Errorf("configured 3, got %d", got)
	}
	// -1: serial on one core, one worker on two, GOMAXPROCS-1 above.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for procs, want := range map[int]int{1: 0, 2: 1, 4: 3} {
		runtime.GOMAXPROCS(procs)
		if got := resolveFanoutWorkers(-1); got != want {
			t.Errorf("-1 with GOMAXPROCS=%d: got %d, want %d", procs, got, want)
		}
	}
}

// fanoutGoroutines counts the fan-out workers of room in this process.
func fanoutGoroutines(t *testing.T, room string) int {
	t.Helper()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	// debug=1 groups goroutines: "N @ pcs..." then "# labels: {...}".
	count, n := 0, 0
	for _, line := range strings.Split(buf.String(), "\n") {
		if c, _, ok := strings.Cut(line, " @ "); ok {
			n, _ = strconv.Atoi(c)
			continue
		}
		if strings.HasPrefix(line, "# labels:") && strings.Contains(line, `"role":"fanout"`) && strings.Contains(line, `"room":"`+room+`"`) {
			count += n
		}
	}
	return count
}

// TestRoomFreesFanoutWorkers: a room big enough for workers forwards
// through them to every subscriber, and when the publisher leaves, its
// read loops end and take their workers with them.
func TestRoomFreesFanoutWorkers(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Forward.FanoutThreshold, c.Forward.FanoutWorkers = 2, 2 })
	const room = "workers"
	pub := join(t, s, room, "pub")
	subs := []*testClient{join(t, s, room, "a"), join(t, s, room, "b"), join(t, s, room, "c")}
	audio, video, _ := pub.publish()
	ap := startPump(audio, 20*time.Millisecond, 80, 960)
	vp := startPump(video, 10*time.Millisecond, 500, 3000)
	defer ap.halt()
	defer vp.halt()
	for _, c := range subs {
		eventually(t, 15*time.Second, "a subscriber's tracks", func() bool { return c.trackCount() == 2 })
		tr := c.track(trackIDOf(c, "video"))
		eventually(t, 5*time.Second, "video through the workers", func() bool { return tr.count() > 20 })
	}
	// Two read loops (audio, video), two workers each.
	if n := fanoutGoroutines(t, room); n != 4 {
		t.Fatalf("%d fan-out workers for a room of 3 subscribers to 2 tracks, want 4", n)
	}
	ap.halt()
	vp.halt()
	pub.send(signal.Message{Type: signal.TypeLeave})
	subs[0].waitFor(signal.TypeParticipantLeft, 5*time.Second)
	pub.close()
	eventually(t, 10*time.Second, "the fan-out workers to end with their read loops", func() bool { return fanoutGoroutines(t, room) == 0 })
}
