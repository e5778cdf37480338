package sfu

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/metrics/metricstest"
)

// The fast path sends on a socket of its own that shares the media port:
// subscribers see the media port as the source, everything sent to the port
// is still read from the media socket, the send socket is in no epoll set
// (which is the point: no wake-up of the runtime's poller per packet), and a
// second server on the same port still fails to bind.
func TestSendOnlySocketSharesTheMediaPort(t *testing.T) {
	// 0.0.0.0 is what production binds: Go makes it a dual-stack IPv6
	// socket, which the twin must match to join its group.
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", "0.0.0.0:0"} {
		t.Run(addr, func(t *testing.T) { testSendOnlySocket(t, addr) })
	}
}

func testSendOnlySocket(t *testing.T, addr string) {
	pc, err := listenMedia(addr)
	if err != nil {
		if strings.HasPrefix(addr, "[") {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	media := pc.(*net.UDPConn)
	defer media.Close()
	sock, err := newSendSocket(media, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	if sock.file == nil {
		t.Fatalf("no send-only socket: %v", sock.shared)
	}
	mediaAddr := netip.MustParseAddrPort(media.LocalAddr().String())
	if mediaAddr.Addr().IsUnspecified() {
		mediaAddr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), mediaAddr.Port())
	}

	// Out through a batch: the source is the media port.
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IP(mediaAddr.Addr().AsSlice())})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	to := newDest(netip.MustParseAddrPort(peer.LocalAddr().String()))
	b := getBatch(sock, nil)
	const n = 10
	for i := 0; i < n; i++ {
		s := b.next()
		s.to, s.kind = to, 0
		b.commit(s, copy(s.buf[:], "packet "+strconv.Itoa(i)))
	}
	b.flush()
	putBatch(b)
	buf := make([]byte, 1500)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < n; i++ {
		k, from, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("packet %d of %d: %v", i, n, err)
		}
		if from != mediaAddr {
			t.Fatalf("packet %q came from %v, not the media port %v", buf[:k], from, mediaAddr)
		}
	}

	// In: every datagram to the port reaches the media socket.
	const in = 200
	for i := 0; i < in; i++ {
		if _, err := peer.WriteToUDPAddrPort([]byte("in"), mediaAddr); err != nil {
			t.Fatal(err)
		}
	}
	_ = media.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < in; i++ {
		if _, _, err := media.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatalf("media socket read %d of %d datagrams: %v", i, in, err)
		}
	}
	sendFD := int(sock.file.Fd())
	if _, _, err := unix.Recvfrom(sendFD, buf, unix.MSG_DONTWAIT); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("the send-only socket received something (err %v)", err)
	}

	var mediaFD int
	raw, _ := media.SyscallConn()
	_ = raw.Control(func(fd uintptr) { mediaFD = int(fd) })
	polled := epollTargets(t)
	if !polled[mediaFD] {
		t.Fatalf("media socket fd %d not found in any epoll set %v: the check below would prove nothing", mediaFD, polled)
	}
	if polled[sendFD] {
		t.Fatalf("send-only socket fd %d is registered with epoll", sendFD)
	}

	if c, err := listenMedia(mediaAddr.String()); err == nil {
		c.Close()
		t.Fatalf("a second bind of %v succeeded", mediaAddr)
	} else if !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("a second bind of %v: %v, want address already in use", mediaAddr, err)
	}
}

// epollTargets returns the fds registered in this process's epoll sets.
func epollTargets(t *testing.T) map[int]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	fds := map[int]bool{}
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); l != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "tfd:" {
				if fd, err := strconv.Atoi(f[1]); err == nil {
					fds[fd] = true
				}
			}
		}
	}
	return fds
}

// A subscriber's run of packets leaves as one GSO message, and every peer
// still receives each datagram whole, in order: runs break at another
// destination, at a packet longer than the run's first, after a shorter
// one, at maxSegments and above maxSegmentSize, and never take a probe
// packet: a probe measures how a link spaces its packets, and a shaper on
// the sending host (tc) passes a GSO message as one clump, which read as a
// link without limit (a real Chromium behind HTB was sent f every few
// seconds on 400 kbit/s). Without GSO every packet is a message of its own.
func TestBatchGSOKeepsEveryDatagram(t *testing.T) {
	type pkt struct {
		to    int // peer index
		size  int
		probe int
	}
	var plan []pkt
	add := func(to, size, n int) {
		for i := 0; i < n; i++ {
			plan = append(plan, pkt{to, size, 0})
		}
	}
	add(0, 1200, 5) // one message: 5 of 1200 and
	add(0, 700, 1)  // a shorter last
	add(1, 1200, 3) // another peer: a new message
	add(0, 1200, 1) // back to peer 0: new message, which
	add(0, 1300, 1) // a longer packet ends
	add(2, 1, 1)    // a lone one-byte datagram
	add(1, 100, 40) // 32 + 8: maxSegments
	add(2, 1460, 3) // above maxSegmentSize: one each
	add(0, 1200, 2) // media, then a probe cluster after it: one each
	for i := 0; i < 3; i++ {
		plan = append(plan, pkt{0, 1200, 5})
	}
	const wantMsgs = 1 + 1 + 1 + 1 + 1 + 2 + 3 + 1 + 3

	for _, tc := range []struct {
		listen, peer string
		gso          bool
	}{
		{"127.0.0.1:0", "127.0.0.1", true},
		{"127.0.0.1:0", "127.0.0.1", false},
		// What production binds: a dual-stack IPv6 socket sending to
		// IPv4 peers.
		{"0.0.0.0:0", "127.0.0.1", true},
		{"[::1]:0", "::1", true},
	} {
		gso := tc.gso
		t.Run(tc.listen+"/gso="+strconv.FormatBool(gso), func(t *testing.T) {
			sock := mediaSendSocket(t, tc.listen, gso, gso)
			var peers []*net.UDPConn
			var dests []*dest
			for i := 0; i < 3; i++ {
				p, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(tc.peer)})
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				_ = p.SetReadBuffer(1 << 20)
				peers = append(peers, p)
				dests = append(dests, newDest(netip.MustParseAddrPort(p.LocalAddr().String())))
			}
			b := getBatch(sock, nil)
			defer putBatch(b)
			want := make([][][]byte, len(peers))
			for i, p := range plan {
				s := b.next()
				s.to, s.probe = dests[p.to], p.probe
				for k := 0; k < p.size; k++ {
					s.buf[k] = byte(i + k)
				}
				want[p.to] = append(want[p.to], append([]byte(nil), s.buf[:p.size]...))
				b.commit(s, p.size)
			}
			sent, msgs := b.send()
			if sent != len(plan) {
				t.Fatalf("kernel took %d of %d packets", sent, len(plan))
			}
			b.n = 0
			if gso && msgs != wantMsgs {
				t.Errorf("%d packets went in %d messages, want %d", len(plan), msgs, wantMsgs)
			}
			if !gso && msgs != len(plan) {
				t.Errorf("without GSO %d packets went in %d messages", len(plan), msgs)
			}
			buf := make([]byte, 2048)
			for i, p := range peers {
				_ = p.SetReadDeadline(time.Now().Add(5 * time.Second))
				for k, w := range want[i] {
					n, err := p.Read(buf)
					if err != nil {
						t.Fatalf("peer %d, datagram %d of %d: %v", i, k, len(want[i]), err)
					}
					if string(buf[:n]) != string(w) {
						t.Fatalf("peer %d, datagram %d: got %d bytes, want %d (%x…, want %x…)", i, k, n, len(w), buf[:min(n, 4)], w[:min(len(w), 4)])
					}
				}
			}
		})
	}
}

// When the kernel refuses a GSO send (EIO where the device can't checksum
// one, EINVAL where a segment exceeds the MTU) the datagrams of that
// message still leave, one by one, GSO stays off for every later batch, and
// the server hears of it once. A socket sending without UDP checksums
// (SO_NO_CHECK) is a way to get the kernel's EINVAL on loopback.
func TestBatchResendsWhatGSORefuses(t *testing.T) {
	sock := mediaSendSocket(t, "127.0.0.1:0", true, true)
	var refused []error
	sock.gsoRefused = func(err error) { refused = append(refused, err) }
	sendWithoutChecksums(t, sock)
	peer, to := loopbackPeer(t)
	_, toOther := loopbackPeer(t)

	var want [][]byte
	fill := func(b *batch, d *dest, n int) {
		for i := 0; i < n; i++ {
			s := b.next()
			s.to = d
			k := copy(s.buf[:], strings.Repeat(strconv.Itoa(len(want)%10), 1000))
			if d == to {
				want = append(want, append([]byte(nil), s.buf[:k]...))
			}
			b.commit(s, k)
		}
	}
	b := getBatch(sock, nil)
	defer putBatch(b)
	// Two GSO messages to the peer around a one-datagram one elsewhere:
	// the first refusal turns GSO off, the second message is refused too
	// and resent one by one as well.
	fill(b, to, 5)
	fill(b, toOther, 1)
	fill(b, to, 4)
	sent, msgs := b.send()
	b.n = 0
	if sent != 10 {
		t.Fatalf("%d of 10 packets sent after the kernel refused GSO", sent)
	}
	if msgs != 10 {
		t.Errorf("%d messages for 10 datagrams sent one by one", msgs)
	}
	if sock.gso.Load() {
		t.Fatal("GSO still on after the kernel refused it")
	}
	if len(refused) != 1 || !errors.Is(refused[0], unix.EINVAL) {
		t.Fatalf("refusals reported: %v, want one EINVAL", refused)
	}
	// The next batch never tries GSO.
	fill(b, to, 3)
	if sent, msgs := b.send(); sent != 3 || msgs != 3 {
		t.Errorf("next batch: %d packets in %d messages, want 3 in 3", sent, msgs)
	}
	b.n = 0
	buf := make([]byte, 2048)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i, w := range want {
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i, len(want), err)
		}
		if string(buf[:n]) != string(w) {
			t.Fatalf("datagram %d: %d bytes %q…, want %q…", i, n, buf[:min(n, 3)], w[:3])
		}
	}
	if len(refused) != 1 {
		t.Errorf("refusal reported %d times", len(refused))
	}
}

// An operator learns that the kernel turned GSO down: surge_udp_gso falls
// from 1 to 0 and one warning says why, while the packets still go out.
func TestServerReportsRefusedGSO(t *testing.T) {
	var logs syncBuffer
	cfg := DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr, cfg.RTC.UDPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	s, err := NewServer(cfg, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.sock.gso.Load() {
		t.Skipf("no UDP GSO here: %v", s.sock.noGSO)
	}
	if g := gauge(t, s, "surge_udp_gso"); g != 1 {
		t.Fatalf("surge_udp_gso = %v with GSO on", g)
	}
	sendWithoutChecksums(t, s.sock)
	peer, to := loopbackPeer(t)
	for round := 0; round < 2; round++ {
		b := getBatch(s.sock, s.m)
		for i := 0; i < 4; i++ {
			sl := b.next()
			sl.to = to
			b.commit(sl, copy(sl.buf[:], strings.Repeat("x", 1000)))
		}
		b.flush()
		putBatch(b)
	}
	buf := make([]byte, 2048)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < 8; i++ {
		if _, err := peer.Read(buf); err != nil {
			t.Fatalf("datagram %d of 8: %v", i, err)
		}
	}
	if g := gauge(t, s, "surge_udp_gso"); g != 0 {
		t.Fatalf("surge_udp_gso = %v after the kernel refused GSO", g)
	}
	if n := strings.Count(logs.String(), "refused a UDP GSO send"); n != 1 {
		t.Fatalf("%d warnings about the refusal, want 1:\n%s", n, logs.String())
	}
}

// sendWithoutChecksums sets SO_NO_CHECK on the socket the batches write to:
// the kernel then answers every GSO send with EINVAL.
func sendWithoutChecksums(t *testing.T, sock *sendSocket) {
	t.Helper()
	var serr error
	if err := sock.sys.raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1)
	}); err != nil || serr != nil {
		t.Skipf("SO_NO_CHECK: %v %v", err, serr)
	}
}

// loopbackPeer is a UDP socket on 127.0.0.1 for a test to send to, closed
// at the test's end.
func loopbackPeer(t testing.TB) (*net.UDPConn, *dest) {
	t.Helper()
	p, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	_ = p.SetReadBuffer(1 << 20)
	return p, newDest(netip.MustParseAddrPort(p.LocalAddr().String()))
}

// BenchmarkBatchSend is the floor under the fan-out: what the batch's sends
// cost the sending thread per datagram, nothing sealed, for a fan-out of
// 250 subscribers × 5 packets of 1 200 bytes per op, with and without GSO.
// "lo" sends to a loopback socket per subscriber, read as loadbot reads:
// loopback delivers in the sender's context, so the receivers' queueing and
// wake-ups are charged to the sender, as they are to surge under
// bench-load.sh. "drop" sends to SURGE_BENCH_DROP_DST from
// SURGE_BENCH_DROP_SRC, an address behind a device that drops what it is
// handed (scripts/udp-floor.sh sets one up in a network namespace of its
// own): the send path down to the device and no delivery, as with a NIC
// that takes a GSO message whole. Without those variables "drop" skips.
func BenchmarkBatchSend(b *testing.B) {
	const subs, k, size = 250, 5, 1200
	for _, dst := range []string{"lo", "drop"} {
		for _, gso := range []bool{false, true} {
			b.Run(dst+"/gso="+strconv.FormatBool(gso), func(b *testing.B) {
				src, dests := "127.0.0.1:0", make([]*dest, subs)
				if dst == "drop" {
					s, d := os.Getenv("SURGE_BENCH_DROP_SRC"), os.Getenv("SURGE_BENCH_DROP_DST")
					if s == "" || d == "" {
						b.Skip("SURGE_BENCH_DROP_SRC and SURGE_BENCH_DROP_DST name no dropping device (scripts/udp-floor.sh)")
					}
					src = net.JoinHostPort(s, "0")
					for i := range dests {
						dests[i] = newDest(netip.AddrPortFrom(netip.MustParseAddr(d), uint16(20000+i)))
					}
				} else {
					for i := range dests {
						p, d := loopbackPeer(b)
						go func() {
							buf := make([]byte, 2048)
							for {
								if _, err := p.Read(buf); err != nil {
									return
								}
							}
						}()
						dests[i] = d
					}
				}
				sock := mediaSendSocket(b, src, gso, gso)
				reg := prometheus.NewRegistry()
				m := metrics.NewSFU(reg)
				bt := getBatch(sock, m)
				defer putBatch(bt)

				// The thread's own CPU: the readers run on others.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				var cpu time.Duration
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					c0 := threadCPU(b)
					for _, d := range dests {
						for j := 0; j < k; j++ {
							s := bt.next()
							s.to, s.kind = d, metrics.KindVideo
							bt.commit(s, size)
						}
					}
					bt.flush()
					cpu += threadCPU(b) - c0
					// Let the readers drain, as between frames.
					b.StopTimer()
					time.Sleep(2 * time.Millisecond)
					b.StartTimer()
				}
				b.StopTimer()
				n := float64(b.N * subs * k)
				b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/datagram")
				b.ReportMetric(n/metricstest.Value(b, reg, "surge_udp_messages_sent_total"), "datagrams/msg")
				if d := metricstest.Value(b, reg, "surge_packets_dropped_total", "reason", "write_error"); d > 0 {
					b.Fatalf("the kernel refused %.0f of %.0f datagrams: the figure would be a drop's cost", d, n)
				}
			})
		}
	}
}

// threadCPU is the calling thread's CPU time, to the nanosecond. Not
// getrusage(RUSAGE_THREAD): its tick-sampled times, read around each short
// burst of sends, came out at half to a tenth of this clock's.
func threadCPU(tb testing.TB) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ts.Nano())
}
