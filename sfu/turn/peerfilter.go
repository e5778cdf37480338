package turn

import (
	"fmt"
	"net/netip"
	"strings"
)

// DefaultDeniedPeers are the peer ranges a relay refuses: coturn's
// recommended denied-peer-ip list (turnserver.conf, "security" section) plus
// what coturn refuses on its own (loopback, multicast, the unspecified
// address). Together they keep a TURN server from becoming a way into the
// operator's own network: private, loopback, link-local, carrier-grade NAT,
// documentation, benchmarking and reserved ranges, and the IPv6 equivalents.
var DefaultDeniedPeers = []string{
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
	"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "64:ff9b::/96", "100::/64", "2001::/23", "2002::/16",
	"fc00::/7", "fe80::/10", "ff00::/8",
}

// PeerFilter decides which peers a relay may exchange packets with. TURN
// permissions are per IP, so CreatePermission asks PermitIP; the relay
// sockets then ask Permit for every packet, which is what keeps a client
// that was allowed 127.0.0.1 for the SFU's media port away from the admin
// port on the same address. It is immutable after construction.
type PeerFilter struct {
	denied  []netip.Prefix
	allowed []netip.Prefix   // operator exceptions, whole ranges
	exact   []netip.AddrPort // operator and SFU exceptions, one port each
}

// NewPeerFilter builds a filter from DefaultDeniedPeers plus denied, with
// allowed (CIDRs or ip:port) and exact as exceptions.
func NewPeerFilter(denied, allowed []string, exact []netip.AddrPort) (*PeerFilter, error) {
	f := &PeerFilter{}
	d, _, err := parsePeers(append(append([]string(nil), DefaultDeniedPeers...), denied...), false)
	if err != nil {
		return nil, err
	}
	f.denied = d
	if f.allowed, f.exact, err = parsePeers(allowed, true); err != nil {
		return nil, err
	}
	for _, ap := range exact {
		f.exact = append(f.exact, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	return f, nil
}

// parsePeers reads CIDRs and bare IPs (as /32 or /128) and, if withPorts,
// ip:port entries.
func parsePeers(list []string, withPorts bool) ([]netip.Prefix, []netip.AddrPort, error) {
	var prefixes []netip.Prefix
	var exact []netip.AddrPort
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			prefixes = append(prefixes, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())).Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			a = a.Unmap()
			prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		if ap, err := netip.ParseAddrPort(s); err == nil && withPorts {
			exact = append(exact, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
			continue
		}
		want := "a CIDR or an IP"
		if withPorts {
			want = "a CIDR, an IP or ip:port"
		}
		return nil, nil, fmt.Errorf("%q is not %s", s, want)
	}
	return prefixes, exact, nil
}

// unmapBits is what a v4-mapped prefix loses when unmapped.
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// PermitIP reports whether a permission for ip may be granted: it is
// outside the denied ranges, or some exception names it.
func (f *PeerFilter) PermitIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !f.isDenied(ip) || f.inAllowed(ip) {
		return true
	}
	for _, e := range f.exact {
		if e.Addr() == ip {
			return true
		}
	}
	return false
}

// Permit reports whether one packet may go to (or come from) peer. It runs
// per relayed packet: no allocation, a few prefix compares.
func (f *PeerFilter) Permit(peer netip.AddrPort) bool {
	ip := peer.Addr().Unmap()
	if !f.isDenied(ip) || f.inAllowed(ip) {
		return true
	}
	port := peer.Port()
	for _, e := range f.exact {
		if e.Port() == port && e.Addr() == ip {
			return true
		}
	}
	return false
}

func (f *PeerFilter) isDenied(ip netip.Addr) bool {
	for _, p := range f.denied {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (f *PeerFilter) inAllowed(ip netip.Addr) bool {
	for _, p := range f.allowed {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
