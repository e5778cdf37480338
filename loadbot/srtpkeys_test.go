package loadbot

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/pion/dtls/v2"
	"github.com/pion/dtls/v2/pkg/crypto/selfsign"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v2"
)

// sniffConn shows a DTLS connection's datagrams to an srtpKeys, as
// mediaConn does.
type sniffConn struct {
	net.Conn
	keys *srtpKeys
}

func (c sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == nil {
		c.keys.sniff(p[:n], false)
	}
	return n, err
}

func (c sniffConn) Write(p []byte) (int, error) {
	c.keys.sniff(p, true)
	return c.Conn.Write(p)
}

// TestKeysFromKeyLogAndHellosDecryptPeerMedia runs real DTLS handshakes,
// this side as client and as server, for each SRTP profile and both PRF
// hashes, and checks that the recovered context decrypts what the peer
// encrypts with the keys Pion's own exporter gives it.
func TestKeysFromKeyLogAndHellosDecryptPeerMedia(t *testing.T) {
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		profile dtls.SRTPProtectionProfile
		srtp    srtp.ProtectionProfile
		suite   dtls.CipherSuiteID
	}{
		{"gcm", dtls.SRTP_AEAD_AES_128_GCM, srtp.ProtectionProfileAeadAes128Gcm, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{"aes-cm", dtls.SRTP_AES128_CM_HMAC_SHA1_80, srtp.ProtectionProfileAes128CmHmacSha1_80, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{"sha384 suite", dtls.SRTP_AEAD_AES_256_GCM, srtp.ProtectionProfileAeadAes256Gcm, dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
	} {
		for _, weClient := range []bool{true, false} {
			name := tc.name + "/server"
			if weClient {
				name = tc.name + "/client"
			}
			t.Run(name, func(t *testing.T) {
				keys := &srtpKeys{}
				ours, theirs := net.Pipe()
				cfg := func(log bool) *dtls.Config {
					c := &dtls.Config{
						Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true,
						SRTPProtectionProfiles: []dtls.SRTPProtectionProfile{tc.profile},
						CipherSuites:           []dtls.CipherSuiteID{tc.suite},
						ExtendedMasterSecret:   dtls.RequireExtendedMasterSecret,
					}
					if log {
						c.KeyLogWriter = keys
					}
					return c
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				type result struct {
					c   *dtls.Conn
					err error
				}
				peer := make(chan result, 1)
				go func() {
					var c *dtls.Conn
					var err error
					if weClient {
						c, err = dtls.ServerWithContext(ctx, theirs, cfg(false))
					} else {
						c, err = dtls.ClientWithContext(ctx, theirs, cfg(false))
					}
					peer <- result{c, err}
				}()
				var mine *dtls.Conn
				if weClient {
					mine, err = dtls.ClientWithContext(ctx, sniffConn{ours, keys}, cfg(true))
				} else {
					mine, err = dtls.ServerWithContext(ctx, sniffConn{ours, keys}, cfg(true))
				}
				if err != nil {
					t.Fatal(err)
				}
				p := <-peer
				if p.err != nil {
					t.Fatal(p.err)
				}
				defer func() { _ = mine.Close(); _ = p.c.Close() }()

				// What the peer encrypts with, from Pion's own exporter.
				state := p.c.ConnectionState()
				var pc srtp.Config
				pc.Profile = tc.srtp
				if err := pc.ExtractSessionKeysFromDTLS(&state, !weClient); err != nil {
					t.Fatal(err)
				}
				enc, err := srtp.CreateContext(pc.Keys.LocalMasterKey, pc.Keys.LocalMasterSalt, tc.srtp)
				if err != nil {
					t.Fatal(err)
				}
				plain := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 7, Timestamp: 9, SSRC: 42}, Payload: []byte("synthetic vp8 payload")}
				raw, _ := plain.Marshal()
				cipher, err := enc.EncryptRTP(nil, raw, nil)
				if err != nil {
					t.Fatal(err)
				}
				dec, err := keys.remoteContext()
				if err != nil {
					t.Fatal(err)
				}
				var h rtp.Header
				got, err := dec.DecryptRTP(nil, cipher, &h)
				if err != nil {
					t.Fatalf("decrypt with recovered keys: %v", err)
				}
				if !bytes.Equal(got, raw) {
					t.Fatalf("decrypted %x, want %x", got, raw)
				}
			})
		}
	}
}

func TestKeysIncompleteWithoutKeyLog(t *testing.T) {
	var k srtpKeys
	if _, err := k.remoteContext(); err != errKeysIncomplete {
		t.Fatalf("err = %v, want errKeysIncomplete", err)
	}
	// Lines that are not key log lines change nothing.
	_, _ = k.Write([]byte("# comment\nCLIENT_RANDOM zz 00\nSERVER_HANDSHAKE_TRAFFIC_SECRET 00 00\n"))
	if k.logMaster != nil {
		t.Fatal("garbage taken as a key log line")
	}
}

// FuzzSRTPKeysSniff: sniff reads datagrams anyone can send to a bot's
// socket; it must never panic, whatever they hold.
func FuzzSRTPKeysSniff(f *testing.F) {
	hello := func(typ byte, body []byte) []byte {
		hs := append([]byte{typ, 0, 0, byte(len(body)), 0, 0, 0, 0, 0, 0, 0, byte(len(body))}, body...)
		rec := []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(hs) >> 8), byte(len(hs))}
		return append(rec, hs...)
	}
	random := make([]byte, 32)
	ch := append(append([]byte{0xfe, 0xfd}, random...), 0, 0, 0, 2, 0xc0, 0x2b, 1, 0)
	sh := append(append([]byte{0xfe, 0xfd}, random...), 0, 0xc0, 0x2b, 0, 0, 9, 0, 14, 0, 5, 0, 2, 0, 7, 0)
	f.Add(hello(1, ch))
	f.Add(hello(2, sh))
	f.Add(append(hello(2, sh), hello(1, ch)...))
	f.Add([]byte{22, 0xfe, 0xfd, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var k srtpKeys
		k.sniff(b, false)
		k.sniff(b, true)
		_, _ = k.remoteContext()
	})
}
