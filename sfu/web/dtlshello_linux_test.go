package web_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/dtls/v2/pkg/protocol/extension"
	"github.com/pion/dtls/v2/pkg/protocol/handshake"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// helloSniffer reads every IPv4 UDP datagram on lo whose payload starts a
// DTLS handshake record (a packet socket with a BPF filter, so media never
// reaches user space) and keeps the hellos to or from one UDP port. It sees
// what Chromium and the bots put on the wire, which neither getStats nor
// Pion's API shows: the profiles offered, in their order. It needs
// CAP_NET_RAW (root, as in CI).
type helloSniffer struct {
	fd   int
	port uint16
	done chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	hellos []dtlsHello
}

// dtlsHandshakeFilter accepts IPv4 UDP datagrams whose first payload byte
// is 22 (DTLS content type handshake). A packet socket of type SOCK_DGRAM
// hands the filter the packet from its IP header on.
var dtlsHandshakeFilter = []bpf.Instruction{
	bpf.LoadAbsolute{Off: 9, Size: 1}, // IP protocol
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_UDP, SkipTrue: 3},
	bpf.LoadMemShift{Off: 0},          // X = IP header length
	bpf.LoadIndirect{Off: 8, Size: 1}, // first byte after the UDP header
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: 22, SkipTrue: 1},
	bpf.RetConstant{Val: 0},
	bpf.RetConstant{Val: 1 << 16},
}

func startHelloSniffer(port uint16) (*helloSniffer, error) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return nil, err
	}
	proto := htons(unix.ETH_P_IP)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return nil, fmt.Errorf("packet socket (needs CAP_NET_RAW): %w", err)
	}
	raw, err := bpf.Assemble(dtlsHandshakeFilter)
	if err == nil {
		prog := make([]unix.SockFilter, len(raw))
		for i, r := range raw {
			prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
		}
		err = unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
	}
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: lo.Index})
	}
	if err == nil {
		// The read loop wakes up this often to see whether it should stop.
		err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200_000})
	}
	if err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	s := &helloSniffer{fd: fd, port: port, done: make(chan struct{})}
	s.wg.Add(1)
	go s.read()
	return s, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *helloSniffer) read() {
	defer s.wg.Done()
	buf := make([]byte, 1<<16)
	partial := map[fragKey]*fragments{}
	for {
		select {
		case <-s.done:
			return
		default:
		}
		n, from, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		// lo shows a sent packet twice: once outgoing, once received.
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if hs := s.take(buf[:n], partial); len(hs) > 0 {
			s.mu.Lock()
			s.hellos = append(s.hellos, hs...)
			s.mu.Unlock()
		}
	}
}

// fragKey names one handshake message being reassembled: Chromium's
// ClientHello (with its post-quantum key share) is larger than one
// datagram and arrives in two fragments.
type fragKey struct {
	src    netip.AddrPort
	typ    uint8
	msgSeq uint16
}

type fragments struct {
	body []byte
	got  map[uint32]uint32 // fragment offset → length
}

// take reads the DTLS records of one IPv4 UDP datagram and returns the
// ClientHellos and ServerHellos it completes.
func (s *helloSniffer) take(p []byte, partial map[fragKey]*fragments) []dtlsHello {
	if len(p) < 20 || p[0]>>4 != 4 {
		return nil
	}
	ihl := int(p[0]&0xf) * 4
	if len(p) < ihl+8 {
		return nil
	}
	srcIP, _ := netip.AddrFromSlice(p[12:16])
	dstIP, _ := netip.AddrFromSlice(p[16:20])
	udp := p[ihl:]
	src := netip.AddrPortFrom(srcIP, binary.BigEndian.Uint16(udp[0:2]))
	dst := netip.AddrPortFrom(dstIP, binary.BigEndian.Uint16(udp[2:4]))
	if src.Port() != s.port && dst.Port() != s.port {
		return nil
	}
	var out []dtlsHello
	// DTLS record: type, version (2), epoch (2), sequence (6), length (2).
	for rec := udp[8:]; len(rec) >= 13; {
		n := int(binary.BigEndian.Uint16(rec[11:13]))
		if len(rec) < 13+n {
			break
		}
		body := rec[13 : 13+n]
		rec = rec[13+n:]
		// Handshake: type, length (3), message seq (2), fragment offset
		// (3), fragment length (3), then the fragment.
		if len(body) < 12 || (body[0] != byte(handshake.TypeClientHello) && body[0] != byte(handshake.TypeServerHello)) {
			continue
		}
		total, off, flen := uint24(body[1:]), uint24(body[6:]), uint24(body[9:])
		if uint32(len(body)-12) < flen || off+flen > total || total > 1<<16 {
			continue
		}
		k := fragKey{src: src, typ: body[0], msgSeq: binary.BigEndian.Uint16(body[4:6])}
		f := partial[k]
		if f == nil {
			f = &fragments{body: make([]byte, total), got: map[uint32]uint32{}}
			partial[k] = f
		}
		copy(f.body[off:], body[12:12+flen])
		f.got[off] = flen
		var have uint32
		for _, l := range f.got {
			have += l
		}
		if have < total {
			continue
		}
		delete(partial, k)
		msg := make([]byte, 12, 12+total)
		copy(msg, body[:6])
		putUint24(msg[9:], total) // one whole message: offset 0, length total
		msg = append(msg, f.body...)
		if h, ok := parseHello(msg); ok {
			h.src, h.dst = src, dst
			out = append(out, h)
		}
	}
	return out
}

func uint24(b []byte) uint32       { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }
func putUint24(b []byte, v uint32) { b[0], b[1], b[2] = byte(v>>16), byte(v>>8), byte(v) }

// parseHello decodes a whole ClientHello or ServerHello message with
// pion/dtls's own parser and picks out its use_srtp profiles.
func parseHello(msg []byte) (dtlsHello, bool) {
	var hs handshake.Handshake
	if err := hs.Unmarshal(msg); err != nil {
		return dtlsHello{}, false
	}
	var h dtlsHello
	var exts []extension.Extension
	switch m := hs.Message.(type) {
	case *handshake.MessageClientHello:
		exts = m.Extensions
	case *handshake.MessageServerHello:
		h.server, exts = true, m.Extensions
	default:
		return dtlsHello{}, false
	}
	for _, e := range exts {
		if u, ok := e.(*extension.UseSRTP); ok {
			for _, pp := range u.ProtectionProfiles {
				h.profiles = append(h.profiles, uint16(pp))
			}
		}
	}
	return h, true
}

// seen returns the hellos so far.
func (s *helloSniffer) seen() []dtlsHello {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dtlsHello(nil), s.hellos...)
}

func (s *helloSniffer) close() {
	close(s.done)
	s.wg.Wait()
	_ = unix.Close(s.fd)
}

// waitHellos polls until cond accepts the hellos seen, or d passes.
func (s *helloSniffer) waitHellos(d time.Duration, cond func([]dtlsHello) bool) []dtlsHello {
	deadline := time.Now().Add(d)
	for {
		h := s.seen()
		if cond(h) || time.Now().After(deadline) {
			return h
		}
		time.Sleep(100 * time.Millisecond)
	}
}
