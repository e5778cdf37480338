package srtpfast

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v2"
)

// TestOpenReadsPionSRTCP: what pion/srtp seals (Chromium and every Pion
// client use the same transforms), Open returns as the original compound
// packet; a replay and a tampered packet are refused.
func TestOpenReadsPionSRTCP(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			theirs, ours, key, salt := rtcpPair(t, p.ours, p.pion)
			var sealed [][]byte
			var plains [][]byte
			for i := 0; i < 100; i++ {
				pkts := []rtcp.Packet{
					&rtcp.ReceiverReport{SSRC: 0xaabbccdd, Reports: []rtcp.ReceptionReport{{SSRC: uint32(i), FractionLost: uint8(i)}}},
					&rtcp.TransportLayerNack{SenderSSRC: 0xaabbccdd, MediaSSRC: 7, Nacks: []rtcp.NackPair{{PacketID: uint16(i)}}},
				}
				plain, err := rtcp.Marshal(pkts)
				if err != nil {
					t.Fatal(err)
				}
				enc, err := theirs.EncryptRTCP(nil, plain, nil)
				if err != nil {
					t.Fatal(err)
				}
				plains, sealed = append(plains, plain), append(sealed, enc)
			}
			for i, enc := range sealed {
				if i == 50 {
					continue // arrives later, out of order
				}
				got, err := ours.Open(append([]byte(nil), enc...))
				if err != nil || !bytes.Equal(got, plains[i]) {
					t.Fatalf("packet %d: %v, equal %v", i, err, bytes.Equal(got, plains[i]))
				}
			}
			if got, err := ours.Open(append([]byte(nil), sealed[50]...)); err != nil || !bytes.Equal(got, plains[50]) {
				t.Fatalf("late packet in the window refused: %v", err)
			}
			if _, err := ours.Open(append([]byte(nil), sealed[99]...)); err != ErrReplay {
				t.Fatalf("replay: %v, want ErrReplay", err)
			}
			if _, err := ours.Open(append([]byte(nil), sealed[10]...)); err != ErrReplay {
				t.Fatalf("old packet: %v, want ErrReplay", err)
			}
			bad := append([]byte(nil), sealed[0]...)
			bad[0] ^= 0 // keep the header, break the body
			bad[12] ^= 0xff
			ours2, _ := NewRTCPContext(p.ours, key, salt)
			if _, err := ours2.Open(bad); err != ErrAuth {
				t.Fatalf("tampered packet: %v, want ErrAuth", err)
			}
			if _, err := ours2.Open(sealed[0][:10]); err != ErrShort {
				t.Fatalf("short packet: %v", err)
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	key, salt := make([]byte, 16), make([]byte, 12)
	theirs, _ := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	ours, _ := NewRTCPContext(AEADAES128GCM, key, salt)
	plain, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 1}})
	pkts := make([][]byte, 1024)
	for i := range pkts {
		pkts[i], _ = theirs.EncryptRTCP(nil, plain, nil)
	}
	buf := make([]byte, 200)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%1024 == 0 && i > 0 {
			b.StopTimer()
			ours, _ = NewRTCPContext(AEADAES128GCM, key, salt)
			b.StartTimer()
		}
		n := copy(buf, pkts[i%1024])
		if _, err := ours.Open(buf[:n]); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSealIsReadByPion: what Seal makes, pion/srtp (the transform every
// Pion client and Chromium run) opens as the original compound packet, in
// both profiles, and Seal allocates nothing.
func TestSealIsReadByPion(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			theirs, ours, _, _ := rtcpPair(t, p.ours, p.pion)
			dst := make([]byte, 1500)
			for i := 0; i < 50; i++ {
				pkts := []rtcp.Packet{
					&rtcp.SenderReport{SSRC: 0x01020304, NTPTime: uint64(i) << 32, RTPTime: uint32(i * 3000), PacketCount: uint32(i), OctetCount: uint32(i * 1000)},
					&rtcp.SenderReport{SSRC: 0x05060708 + uint32(i), RTPTime: uint32(i)},
				}
				plain, err := rtcp.Marshal(pkts)
				if err != nil {
					t.Fatal(err)
				}
				enc, err := ours.Seal(dst, plain, uint32(i))
				if err != nil {
					t.Fatal(err)
				}
				if len(enc) != ours.SealedLen(len(plain)) {
					t.Fatalf("sealed %d bytes, SealedLen says %d", len(enc), ours.SealedLen(len(plain)))
				}
				got, err := theirs.DecryptRTCP(nil, enc, nil)
				if err != nil {
					t.Fatalf("packet %d: pion refused it: %v", i, err)
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("packet %d: pion read %x, sent %x", i, got, plain)
				}
			}
			if _, err := ours.Seal(dst[:20], make([]byte, 28), 60); err != ErrSpace {
				t.Fatalf("small dst: %v, want ErrSpace", err)
			}
			plain := make([]byte, 28)
			plain[0], plain[1], plain[3] = 0x80, 200, 6
			if n := testing.AllocsPerRun(100, func() { _, _ = ours.Seal(dst, plain, 70) }); n != 0 {
				t.Fatalf("Seal allocates %.1f times", n)
			}
		})
	}
}

// rtcpPair is a pion/srtp context and an RTCPContext on one random master
// key and salt, and the key and salt.
func rtcpPair(t *testing.T, ours Profile, pion srtp.ProtectionProfile) (*srtp.Context, *RTCPContext, []byte, []byte) {
	t.Helper()
	key, salt := make([]byte, ours.KeyLen()), make([]byte, ours.SaltLen())
	_, _ = rand.Read(key)
	_, _ = rand.Read(salt)
	theirs, err := srtp.CreateContext(key, salt, pion)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewRTCPContext(ours, key, salt)
	if err != nil {
		t.Fatal(err)
	}
	return theirs, c, key, salt
}
