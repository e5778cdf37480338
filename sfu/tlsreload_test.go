package sfu

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/roomapi"
	"github.com/surgertc/surge/sfu/signal"
)

// testCA signs loopback server certificates for TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "surge test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a certificate for 127.0.0.1 named cn, and its key, as PEM.
func (ca *testCA) issue(t *testing.T, certFile, keyFile, cn string, serial int64) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	// Written beside and renamed, as cert managers do, so the watcher
	// never reads half a file.
	for path, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path+".tmp", pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
}

// servedCN dials addr and returns the common name of the certificate it shows.
func servedCN(t *testing.T, addr string, pool *x509.CertPool) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TestTLSReloadKeepsConnections: the public listener serves wss and https
// with TLS 1.2 at least; a renewed certificate on disk is picked up for new
// connections while a joined participant's socket stays up; a broken
// renewal is refused and the good certificate kept.
func TestTLSReloadKeepsConnections(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca := newTestCA(t)
	ca.issue(t, certFile, keyFile, "first", 10)
	s := startServer(t, func(c *Config) {
		c.TLS = TLSConfig{CertFile: certFile, KeyFile: keyFile, ReloadInterval: 50 * time.Millisecond}
	})
	if !strings.HasPrefix(s.URL(), "wss://") {
		t.Fatalf("URL %s, want wss://", s.URL())
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(s.URL(), "wss://"), "/rtc")
	if cn := servedCN(t, addr, ca.pool); cn != "first" {
		t.Fatalf("serves %q", cn)
	}
	if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.URL(), &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	roundTrip := func(m signal.Message, want string) {
		t.Helper()
		data, _ := json.Marshal(m)
		if err := ws.Write(ctx, websocket.MessageText, data); err != nil {
			t.Fatal(err)
		}
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("socket broke waiting for %s: %v", want, err)
			}
			var got signal.Message
			_ = json.Unmarshal(data, &got)
			if got.Type == want {
				return
			}
		}
	}
	roundTrip(signal.Message{Type: signal.TypeJoin, Token: devToken(t, "tls", "alice")}, signal.TypeJoined)

	ca.issue(t, certFile, keyFile, "second", 11)
	eventually(t, 5*time.Second, "the renewed certificate to be served", func() bool { return servedCN(t, addr, ca.pool) == "second" })
	roundTrip(signal.Message{Type: signal.TypePing}, signal.TypePong)

	// A broken renewal: refused, the good pair stays.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.ReloadTLS(); err == nil {
		t.Fatal("ReloadTLS accepted a broken certificate file")
	}
	time.Sleep(150 * time.Millisecond) // a few watch ticks
	if cn := servedCN(t, addr, ca.pool); cn != "second" {
		t.Fatalf("after a broken renewal serves %q", cn)
	}
	roundTrip(signal.Message{Type: signal.TypePing}, signal.TypePong)

	// The room API rides the same listener.
	admin := &roomapi.Client{BaseURL: s.URL(), HTTP: hc, Token: mintToken(t, auth.DevAPIKey, auth.DevAPISecret, auth.Grant{Identity: "ops", Admin: true}, time.Hour, time.Now())}
	if rooms, err := admin.ListRooms(ctx); err != nil || len(rooms) != 1 {
		t.Fatalf("room API over https: %+v, %v", rooms, err)
	}
}

func TestTLSStartFailsOnMissingFiles(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr, cfg.RTC.UDPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.TLS.CertFile, cfg.TLS.KeyFile = "/nonexistent/tls.crt", "/nonexistent/tls.key"
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "tls.crt") {
		t.Fatalf("Start = %v, want an error naming the certificate file", err)
	}
}

// A Start that fails at its last listener gives back everything the steps
// before it took: the media UDP port and the public port can be bound
// again at once, and no goroutine is left (the certificate watcher of a TLS
// listener included), without the caller having to call Close.
func TestFailedStartFreesEverything(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	newTestCA(t).issue(t, certFile, keyFile, "start", 1)
	freeUDP := func() string {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	freeTCP := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr, cfg.RTC.UDPAddr = freeTCP(), taken.Addr().String(), freeUDP()
	cfg.TLS = TLSConfig{CertFile: certFile, KeyFile: keyFile, ReloadInterval: 50 * time.Millisecond}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "admin HTTP") {
		t.Fatalf("Start with the admin address taken: %v", err)
	}
	u, err := net.ListenPacket("udp", cfg.RTC.UDPAddr)
	if err != nil {
		t.Fatalf("media port still held after the failed Start: %v", err)
	}
	u.Close()
	l, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		t.Fatalf("public port still held after the failed Start: %v", err)
	}
	l.Close()
}
