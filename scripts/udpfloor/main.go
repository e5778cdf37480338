//go:build linux

// Command udpfloor measures what the kernel charges a sender per UDP datagram
// for a fan-out shaped like the SFU's: D destinations, K packets of S bytes
// to each, in rounds. It is the floor under surge's per-packet CPU and under
// its in-SFU latency: no user-space change goes below it.
//
// Two ways to send (-mode):
//
//	dgram  one datagram per sendmmsg message (forward.udp_gso: false)
//	gso    one message per destination with UDP_SEGMENT (the default)
//
// Two kinds of destination (-dest):
//
//	lo     a loopback socket per destination, read by a goroutine. Loopback
//	       delivers in the sender's context, so the receivers' queueing and
//	       wake-ups are charged to the sender, as they are to surge under
//	       bench-load.sh.
//	drop   an address behind a device that drops what it is handed (a veth
//	       whose peer is down, set up by scripts/udp-floor.sh in a network
//	       namespace of its own): the send path down to the device and no
//	       delivery, as with a NIC that takes a GSO message whole.
//
// CPU is the sending thread's own (getrusage RUSAGE_THREAD).
package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

func main() {
	mode := flag.String("mode", "gso", "dgram or gso")
	dest := flag.String("dest", "lo", "lo (loopback receivers) or drop (the -drop-addr address)")
	dropAddr := flag.String("drop-addr", "10.99.0.2", "with -dest drop: the address behind the dropping device")
	srcAddr := flag.String("src-addr", "10.99.0.1", "with -dest drop: the sender's address")
	subs := flag.Int("subs", 250, "destinations")
	k := flag.Int("k", 5, "packets per destination per round")
	size := flag.Int("size", 1200, "bytes per packet")
	rounds := flag.Int("rounds", 400, "rounds")
	gap := flag.Duration("gap", 2*time.Millisecond, "pause between rounds (lets the receivers drain)")
	flag.Parse()
	if *mode != "dgram" && *mode != "gso" || *dest != "lo" && *dest != "drop" {
		flag.Usage()
		os.Exit(2)
	}

	var got atomic.Int64
	src := netip.MustParseAddr("127.0.0.1")
	addrs := make([]unix.RawSockaddrInet4, 0, *subs)
	for i := 0; i < *subs; i++ {
		var ip netip.Addr
		var port int
		if *dest == "lo" {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				fail(err)
			}
			_ = c.SetReadBuffer(4 << 20)
			go func() {
				b := make([]byte, 65536)
				for {
					if _, err := c.Read(b); err != nil {
						return
					}
					got.Add(1)
				}
			}()
			ip, port = src, c.LocalAddr().(*net.UDPAddr).Port
		} else {
			src = netip.MustParseAddr(*srcAddr)
			ip, port = netip.MustParseAddr(*dropAddr), 20000+i
		}
		sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.As4()}
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		addrs = append(addrs, sa)
	}

	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		fail(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()}); err != nil {
		fail(err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 8<<20)

	// Built once, as surge's batch does: the loop below only sends.
	const chunk = 64
	buf := make([]byte, *size**k)
	var msgs []mmsghdr
	var iovs []unix.Iovec
	cms := unix.CmsgSpace(2)
	var cm []byte
	if *mode == "gso" {
		msgs = make([]mmsghdr, *subs)
		iovs = make([]unix.Iovec, *subs)
		cm = make([]byte, *subs*cms)
		for i := range msgs {
			iovs[i].Base = &buf[0]
			iovs[i].SetLen(*size * *k)
			c := cm[i*cms : (i+1)*cms]
			h := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
			h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
			h.SetLen(unix.CmsgLen(2))
			*(*uint16)(unsafe.Pointer(&c[unix.CmsgLen(0)])) = uint16(*size)
			setMsg(&msgs[i], &addrs[i], &iovs[i])
			msgs[i].hdr.Control = &c[0]
			msgs[i].hdr.SetControllen(cms)
		}
	} else {
		msgs = make([]mmsghdr, *subs**k)
		iovs = make([]unix.Iovec, *subs**k)
		for i := 0; i < *subs; i++ {
			for j := 0; j < *k; j++ {
				m := i**k + j
				iovs[m].Base = &buf[j**size]
				iovs[m].SetLen(*size)
				setMsg(&msgs[m], &addrs[i], &iovs[m])
			}
		}
	}

	runtime.LockOSThread()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(unix.RUSAGE_THREAD, &ru0)
	t0 := time.Now()
	sent, refused := 0, 0
	for r := 0; r < *rounds; r++ {
		for base := 0; base < len(msgs); base += chunk {
			end := min(base+chunk, len(msgs))
			for s := base; s < end; {
				n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd),
					uintptr(unsafe.Pointer(&msgs[s])), uintptr(end-s), unix.MSG_DONTWAIT, 0, 0)
				if e != 0 {
					refused++
					s++
					continue
				}
				s += int(n)
			}
		}
		sent += *subs * *k
		time.Sleep(*gap)
	}
	wall := time.Since(t0)
	_ = syscall.Getrusage(unix.RUSAGE_THREAD, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	if *dest == "lo" {
		time.Sleep(300 * time.Millisecond)
	}
	fmt.Printf("%-5s %-5s datagrams=%d cpu=%v us/datagram=%.2f refused=%d received=%d wall=%v\n",
		*mode, *dest, sent, cpu.Round(time.Millisecond), float64(cpu.Nanoseconds())/float64(sent)/1e3,
		refused, got.Load(), wall.Round(time.Millisecond))
}

func setMsg(m *mmsghdr, sa *unix.RawSockaddrInet4, iov *unix.Iovec) {
	m.hdr.Name = (*byte)(unsafe.Pointer(sa))
	m.hdr.Namelen = unix.SizeofSockaddrInet4
	m.hdr.Iov = iov
	m.hdr.Iovlen = 1
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "udpfloor:", err)
	os.Exit(1)
}
