package sfu

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Subscribers' RTCP is read by the SFU itself, before Pion sees it: every
// subscriber sends transport-wide-cc feedback several times a second, and
// Pion's SRTCP session would decrypt each packet, unmarshal it (allocating
// for every packet it reports), hand it to a goroutine per DownTrack, which
// then parses it again. muxConn sits between the media socket and Pion's ICE
// UDP mux: a packet that is RTCP from a subscriber on the fast path is opened
// with that subscriber's keys (sfu/srtpfast) and handled on the spot;
// everything else (STUN, DTLS, publishers' media and RTCP, subscribers on
// another path) goes to Pion untouched.

// muxConn is the media socket as Pion's ICE UDP mux reads it.
type muxConn struct {
	*net.UDPConn
	router *rtcpRouter
	// addrs hands Pion the same *net.UDPAddr for a remote each time, so
	// that reading a packet does not allocate one; only the mux's reader
	// goroutine touches it.
	addrs map[netip.AddrPort]*net.UDPAddr
}

const maxCachedAddrs = 4096

func newMuxConn(c *net.UDPConn, r *rtcpRouter) *muxConn {
	return &muxConn{UDPConn: c, router: r, addrs: map[netip.AddrPort]*net.UDPAddr{}}
}

// ReadFrom is what the ICE mux's reader calls for every datagram.
func (c *muxConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, ap, err := c.UDPConn.ReadFromUDPAddrPort(p)
		if err != nil {
			return n, nil, err
		}
		if isRTCP(p[:n]) {
			if dl := c.router.lookup(ap); dl != nil && dl.interceptRTCP(p[:n], time.Now()) {
				continue
			}
		}
		return n, c.addr(ap), nil
	}
}

func (c *muxConn) addr(ap netip.AddrPort) *net.UDPAddr {
	if a := c.addrs[ap]; a != nil {
		return a
	}
	if len(c.addrs) >= maxCachedAddrs {
		clear(c.addrs)
	}
	a := net.UDPAddrFromAddrPort(ap)
	c.addrs[ap] = a
	return a
}

// isRTCP tells RTCP from RTP on a muxed port (RFC 5761 §4): version 2 and a
// payload type byte in 192..223 (RTCP types 200-207 with the marker bit).
func isRTCP(b []byte) bool {
	return len(b) >= 8 && b[0]>>6 == 2 && b[1] >= 192 && b[1] <= 223
}

// rtcpRouter finds the subscriber a datagram's source address belongs to.
type rtcpRouter struct {
	mu  sync.RWMutex
	dls map[netip.AddrPort]*downlink
}

func newRTCPRouter() *rtcpRouter { return &rtcpRouter{dls: map[netip.AddrPort]*downlink{}} }

func (r *rtcpRouter) lookup(ap netip.AddrPort) *downlink {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	dl := r.dls[ap]
	r.mu.RUnlock()
	return dl
}

func (r *rtcpRouter) set(ap netip.AddrPort, dl *downlink) {
	r.mu.Lock()
	r.dls[ap] = dl
	r.mu.Unlock()
}

// remove forgets ap if it still belongs to dl.
func (r *rtcpRouter) remove(ap netip.AddrPort, dl *downlink) {
	r.mu.Lock()
	if r.dls[ap] == dl {
		delete(r.dls, ap)
	}
	r.mu.Unlock()
}

// interceptRTCP opens and handles an SRTCP packet from the subscriber,
// reporting false to let Pion have it instead (no route, or a packet that
// does not authenticate with the route's keys).
func (d *downlink) interceptRTCP(pkt []byte, now time.Time) bool {
	r := d.route.Load()
	if r == nil || r.rtcp == nil {
		return false
	}
	plain, err := r.rtcp.Open(pkt)
	if err != nil {
		return false
	}
	d.rtcpRead.Add(1)
	d.handleRTCP(plain, now, nil)
	return true
}

// RTCP packet types and feedback formats handled here.
const (
	rtcpSR    = 200
	rtcpRR    = 201
	rtcpRTPFB = 205 // FMT 1 NACK, 15 transport-wide-cc
	rtcpPSFB  = 206 // FMT 1 PLI, 4 FIR
)

// handleRTCP reads a plain compound RTCP packet from the subscriber without
// allocating. only, when set, restricts what targets a track (reports,
// NACKs, keyframe requests) to that track: Pion hands the same compound
// packet to each track it names.
func (d *downlink) handleRTCP(b []byte, now time.Time, only *DownTrack) {
	for len(b) >= 4 {
		n := (int(binary.BigEndian.Uint16(b[2:])) + 1) * 4
		if n > len(b) {
			return
		}
		p := b[:n]
		b = b[n:]
		count := int(p[0] & 0x1f)
		switch p[1] {
		case rtcpSR, rtcpRR:
			off := 8
			if p[1] == rtcpSR {
				off = 28
			}
			for i := 0; i < count && off+24 <= len(p); i, off = i+1, off+24 {
				blk := p[off : off+24]
				if t := d.track(binary.BigEndian.Uint32(blk), only); t != nil {
					t.observeReport(blk[4], binary.BigEndian.Uint32(blk[16:]), binary.BigEndian.Uint32(blk[20:]), now)
				}
			}
		case rtcpRTPFB:
			if len(p) < 12 {
				continue
			}
			switch count {
			case 15:
				if only == nil || only.twccID != 0 {
					d.onFeedbackRaw(p, now)
				}
			case 1:
				if t := d.track(binary.BigEndian.Uint32(p[8:]), only); t != nil {
					t.onNACK(p[12:], now)
				}
			}
		case rtcpPSFB:
			if len(p) < 12 {
				continue
			}
			switch count {
			case 1: // PLI
				if t := d.track(binary.BigEndian.Uint32(p[8:]), only); t != nil {
					_, _ = t.receiver.requestKeyframe(t.currentLayer(), now, true, false)
				}
			case 4: // FIR: entries of SSRC + sequence number
				for off := 12; off+8 <= len(p); off += 8 {
					if t := d.track(binary.BigEndian.Uint32(p[off:]), only); t != nil {
						_, _ = t.receiver.requestKeyframe(t.currentLayer(), now, true, false)
					}
				}
			}
		}
	}
}

// track is the DownTrack sending ssrc, restricted to only when set.
func (d *downlink) track(ssrc uint32, only *DownTrack) *DownTrack {
	if only != nil {
		if only.ssrcIs(ssrc) {
			return only
		}
		return nil
	}
	m := d.tracks.Load()
	if m == nil {
		return nil
	}
	return (*m)[ssrc]
}

// addTrack and removeTrack keep the SSRC map copy-on-write: the RTCP path
// reads it without a lock.
func (d *downlink) addTrack(ssrc uint32, t *DownTrack) {
	d.tracksMu.Lock()
	defer d.tracksMu.Unlock()
	next := map[uint32]*DownTrack{ssrc: t}
	if old := d.tracks.Load(); old != nil {
		for k, v := range *old {
			if v != t {
				next[k] = v
			}
		}
	}
	d.tracks.Store(&next)
}

func (d *downlink) removeTrack(t *DownTrack) {
	d.tracksMu.Lock()
	defer d.tracksMu.Unlock()
	old := d.tracks.Load()
	if old == nil {
		return
	}
	next := make(map[uint32]*DownTrack, len(*old))
	for k, v := range *old {
		if v != t {
			next[k] = v
		}
	}
	d.tracks.Store(&next)
}
