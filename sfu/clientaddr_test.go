package sfu

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/surgertc/surge/sfu/signal"
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

// TestLogsShowClientBehindProxy: behind a trusted proxy a participant's log
// lines name the client from X-Forwarded-For, and the proxy; from anyone
// else the header is ignored.
func TestLogsShowClientBehindProxy(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		var buf syncBuffer
		cfg := DefaultConfig()
		cfg.ListenAddr, cfg.AdminAddr, cfg.RTC.UDPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		if trusted {
			cfg.TrustedProxies = []string{"127.0.0.1"}
		}
		s, err := NewServer(cfg, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, _, err := websocket.Dial(ctx, s.URL(), &websocket.DialOptions{HTTPHeader: http.Header{"X-Forwarded-For": {"198.51.100.7"}}})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(signal.Message{Type: signal.TypeJoin, Token: devToken(t, "proxied", "alice")})
		_ = conn.Write(ctx, websocket.MessageText, data)
		_, _, _ = conn.Read(ctx) // joined
		cancel()
		_ = conn.CloseNow()
		_ = s.Close()
		var line string
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, `msg="participant joined"`) {
				line = l
			}
		}
		switch {
		case trusted && (!strings.Contains(line, "remote=198.51.100.7 proxy=127.0.0.1:")):
			t.Errorf("behind a trusted proxy: %q, want remote=198.51.100.7 proxy=127.0.0.1:…", line)
		case !trusted && (!strings.Contains(line, "remote=127.0.0.1:") || strings.Contains(line, "198.51.100.7")):
			t.Errorf("untrusted peer: %q, want its own address and no forwarded one", line)
		}
	}
}
