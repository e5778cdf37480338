package sfu

import (
	"net/http"
	"testing"
)

func TestClientAddr(t *testing.T) {
	ps, err := parseProxies([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer     string
		xff            []string
		realIP         string
		client, proxyW string
	}{
		{"direct client, header ignored", "203.0.113.5:4000", []string{"1.2.3.4"}, "", "203.0.113.5:4000", ""},
		{"one trusted proxy", "10.1.2.3:5000", []string{"198.51.100.9"}, "", "198.51.100.9", "10.1.2.3:5000"},
		{"forged left part skipped", "10.1.2.3:5000", []string{"6.6.6.6, 198.51.100.9"}, "", "198.51.100.9", "10.1.2.3:5000"},
		{"chain of trusted proxies", "192.0.2.7:443", []string{"198.51.100.9, 10.9.9.9"}, "", "198.51.100.9", "192.0.2.7:443"},
		{"several header lines", "10.1.2.3:5000", []string{"6.6.6.6", "198.51.100.9, 10.0.0.1"}, "", "198.51.100.9", "10.1.2.3:5000"},
		{"X-Real-IP fallback", "10.1.2.3:5000", nil, "198.51.100.10", "198.51.100.10", "10.1.2.3:5000"},
		{"garbage header", "10.1.2.3:5000", []string{"not-an-ip"}, "", "10.1.2.3:5000", ""},
		{"IPv6 proxy", "[2001:db8::1]:443", []string{"2001:db9::5"}, "", "2001:db9::5", "[2001:db8::1]:443"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.2]:443", []string{"198.51.100.9"}, "", "198.51.100.9", "[::ffff:10.0.0.2]:443"},
	} {
		r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if tc.realIP != "" {
			r.Header.Set("X-Real-IP", tc.realIP)
		}
		c, p := ps.clientAddr(r)
		if c != tc.client || p != tc.proxyW {
			t.Errorf("%s: got (%q, %q), want (%q, %q)", tc.name, c, p, tc.client, tc.proxyW)
		}
	}
	if c, _ := proxySet(nil).clientAddr(&http.Request{RemoteAddr: "10.1.2.3:1", Header: http.Header{"X-Forwarded-For": {"1.1.1.1"}}}); c != "10.1.2.3:1" {
		t.Errorf("no trusted proxies: %q", c)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.com", ""} {
		if _, err := parseProxies([]string{bad}); err == nil {
			t.Errorf("parseProxies accepted %q", bad)
		}
	}
}
