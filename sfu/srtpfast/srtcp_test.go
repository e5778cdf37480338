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
			key, salt := make([]byte, p.ours.KeyLen()), make([]byte, p.ours.SaltLen())
			_, _ = rand.Read(key)
			_, _ = rand.Read(salt)
			theirs, err := srtp.CreateContext(key, salt, p.pion)
			if err != nil {
				t.Fatal(err)
			}
			ours, err := NewRTCPContext(p.ours, key, salt)
			if err != nil {
				t.Fatal(err)
			}
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
