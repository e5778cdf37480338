package turn

import (
	"net/netip"
	"testing"
)

func TestPeerFilter(t *testing.T) {
	media := netip.MustParseAddrPort("127.0.0.1:7882")
	f, err := NewPeerFilter([]string{"198.51.0.0/16"}, []string{"10.9.0.0/16", "192.168.1.5:4000"}, []netip.AddrPort{media})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		peer       string
		ip, packet bool
		why        string
	}{
		{"127.0.0.1:7882", true, true, "the SFU's media address"},
		{"127.0.0.1:7881", true, false, "the admin port: same IP as the media address, other port"},
		{"127.0.0.2:7882", false, false, "loopback"},
		{"10.0.0.1:5000", false, false, "private 10/8"},
		{"172.20.0.1:5000", false, false, "private 172.16/12"},
		{"192.168.1.5:4000", true, true, "an allowed ip:port"},
		{"192.168.1.5:4001", true, false, "its IP on another port"},
		{"10.9.3.4:1", true, true, "an allowed range"},
		{"169.254.169.254:80", false, false, "link-local (cloud metadata)"},
		{"100.64.0.1:5000", false, false, "carrier-grade NAT"},
		{"224.0.0.251:5353", false, false, "multicast"},
		{"0.0.0.0:5000", false, false, "this network"},
		{"198.51.7.7:5000", false, false, "an operator-denied range"},
		{"8.8.8.8:3478", true, true, "a public address"},
		{"[::1]:7882", false, false, "IPv6 loopback"},
		{"[fe80::1]:5000", false, false, "IPv6 link-local"},
		{"[fd00::2]:5000", false, false, "IPv6 unique local"},
		{"[::ffff:10.0.0.1]:5000", false, false, "v4-mapped private"},
		{"[::ffff:127.0.0.1]:7882", true, true, "v4-mapped media address"},
		{"[2606:4700::1]:443", true, true, "public IPv6"},
	} {
		ap := netip.MustParseAddrPort(tc.peer)
		if got := f.PermitIP(ap.Addr()); got != tc.ip {
			t.Errorf("PermitIP(%s) = %v, want %v (%s)", ap.Addr(), got, tc.ip, tc.why)
		}
		if got := f.Permit(ap); got != tc.packet {
			t.Errorf("Permit(%s) = %v, want %v (%s)", ap, got, tc.packet, tc.why)
		}
	}
}

func TestPeerFilterRejectsBadEntries(t *testing.T) {
	for _, c := range []struct{ denied, allowed []string }{
		{[]string{"10.0.0.0/33"}, nil},
		{[]string{"127.0.0.1:80"}, nil}, // a port means nothing in a denylist
		{nil, []string{"host.example:80"}},
	} {
		if _, err := NewPeerFilter(c.denied, c.allowed, nil); err == nil {
			t.Errorf("NewPeerFilter(%v, %v) accepted", c.denied, c.allowed)
		}
	}
}

func BenchmarkPeerFilterPermit(b *testing.B) {
	f, err := NewPeerFilter(nil, nil, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:7882")})
	if err != nil {
		b.Fatal(err)
	}
	peer := netip.MustParseAddrPort("127.0.0.1:7882")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !f.Permit(peer) {
			b.Fatal("refused")
		}
	}
}
