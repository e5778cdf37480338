package sfu

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// proxySet is the parsed trusted_proxies: peers whose forwarding headers
// are believed. Anyone else could write X-Forwarded-For themselves.
type proxySet []netip.Prefix

func parseProxies(list []string) (proxySet, error) {
	out := make(proxySet, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%w: trusted_proxies: %q is neither an IP nor a CIDR", ErrConfig, s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%w: trusted_proxies: %q is neither an IP nor a CIDR", ErrConfig, s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (ps proxySet) trusts(ip string) bool {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address a request came from: its peer, unless the peer
// is a trusted proxy, in which case the rightmost address in
// X-Forwarded-For that is not itself a trusted proxy (each proxy appends
// the address it saw, so everything left of that could be forged by the
// client), else X-Real-IP. proxy is the peer when a header was used.
func (ps proxySet) clientAddr(r *http.Request) (client, proxy string) {
	peer := r.RemoteAddr
	host, _, err := net.SplitHostPort(peer)
	if err != nil {
		host = peer
	}
	if len(ps) == 0 || !ps.trusts(host) {
		return peer, ""
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			break // garbage: stop trusting the chain here
		}
		if !ps.trusts(hop) {
			return hop, peer
		}
	}
	if ip := strings.TrimSpace(r.Header.Get("X-Real-IP")); ip != "" {
		if _, err := netip.ParseAddr(ip); err == nil {
			return ip, peer
		}
	}
	return peer, ""
}

// sessionLog is the logger of one signaling connection, naming the client
// (and the proxy it came through, when trusted_proxies vouches for it).
func (s *Server) sessionLog(r *http.Request) *slog.Logger {
	client, proxy := s.proxies.clientAddr(r)
	if proxy != "" {
		return s.log.With("remote", client, "proxy", proxy)
	}
	return s.log.With("remote", client)
}
