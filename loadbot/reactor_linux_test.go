//go:build linux && (amd64 || arm64)

package loadbot

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v2"
	"golang.org/x/sys/unix"
)

// nopSink fails the test if anything reaches it: without keys nothing may.
type nopSink struct{ t *testing.T }

func (s nopSink) onRTP(*rtp.Header, []byte, time.Time) { s.t.Error("media decrypted without keys") }
func (s nopSink) onRTCP([]byte, time.Time)             { s.t.Error("RTCP decrypted without keys") }
func (s nopSink) onKeyed(rtcpSender, *srtp.Context)    { s.t.Error("keyed without keys") }

// TestReactorConnIsAUDPSocketForPion checks the parts of transport.UDPConn
// Pion's ICE relies on: datagrams it cannot decrypt reach ReadFrom with
// their sender, writes go out, a deadline and Close unblock a reader.
func TestReactorConnIsAUDPSocketForPion(t *testing.T) {
	rs, err := newReactors(2)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.close()
	c, err := listenReactor(rs.pick(), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, &srtpKeys{}, nopSink{t})
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()

	// STUN-like, DTLS-like and RTP-like (no keys yet) all go to Pion.
	for _, first := range []byte{0x00, 22, 0x80} {
		msg := append([]byte{first}, make([]byte, 40)...)
		if _, err := peer.WriteTo(msg, c.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram %#x: %v", first, err)
		}
		if n != len(msg) || buf[0] != first || from.String() != peer.LocalAddr().String() {
			t.Fatalf("got %d bytes starting %#x from %v; want %d from %v", n, buf[0], from, len(msg), peer.LocalAddr())
		}
	}
	if _, err := c.WriteTo([]byte("pong"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := peer.ReadFrom(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}

	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	var ne net.Error
	if _, _, err := c.ReadFrom(buf); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(buf)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_ = c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadFrom")
	}
	if _, err := c.WriteTo([]byte("x"), peer.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
}

// The arrival time comes from the kernel, not from when the reactor got
// round to the packet: latency and TWCC must not see loadbot's scheduling.
func TestKernelTimeIsTheArrivalTime(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, _ := c.SyscallConn()
	_ = raw.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if _, err := c.WriteTo([]byte("x"), c.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	buf, oob := make([]byte, 10), make([]byte, 128)
	_, oobn, _, _, err := c.ReadMsgUDP(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	got := kernelTime(oob[:oobn])
	if d := got.Sub(sent); d < -time.Millisecond || d > 50*time.Millisecond {
		t.Fatalf("kernel arrival time %v after the send, want within 50 ms (read 100 ms later)", d)
	}
	if time.Since(kernelTime(nil)) > time.Second {
		t.Fatal("without a control message the time is not now")
	}
}
