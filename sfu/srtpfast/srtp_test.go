package srtpfast

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v2"
)

var profiles = []struct {
	name string
	ours Profile
	pion srtp.ProtectionProfile
}{
	{"gcm", AEADAES128GCM, srtp.ProtectionProfileAeadAes128Gcm},
	{"aes-cm", AES128CMHMACSHA1_80, srtp.ProtectionProfileAes128CmHmacSha1_80},
}

// TestSealDecryptsWithPion: what Seal and SealParts write, pion/srtp (the receiving
// end in loadbot and every Pion client) decrypts to the same packet, across
// a sequence number wrap and with a retransmission from before it.
func TestSealDecryptsWithPion(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			key, salt := make([]byte, p.ours.KeyLen()), make([]byte, p.ours.SaltLen())
			_, _ = rand.Read(key)
			_, _ = rand.Read(salt)
			ours, err := NewContext(p.ours, key, salt)
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := srtp.CreateContext(key, salt, p.pion)
			if err != nil {
				t.Fatal(err)
			}
			seqs := []uint16{65530, 65531, 65533, 65534, 65535, 0, 1, 65532, 2, 3}
			for i := 0; i < 200; i++ {
				seqs = append(seqs, uint16(4+i))
			}
			dst := make([]byte, 1600)
			for i, seq := range seqs {
				h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(i * 3000), SSRC: 0x11223344, Marker: i%3 == 0}
				if i%2 == 0 {
					_ = h.SetExtension(3, []byte{byte(i), byte(i >> 8)})
				}
				payload := bytes.Repeat([]byte{byte(i)}, 1+i*7%1100)
				plain, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
				if err != nil {
					t.Fatal(err)
				}
				// Every third packet through SealParts, with the payload
				// apart from the header, as the fan-out seals.
				var sealed []byte
				if i%3 == 1 {
					sealed, err = ours.SealParts(dst, plain[:h.MarshalSize()], payload)
				} else {
					sealed, err = ours.Seal(dst, plain, h.MarshalSize())
				}
				if err != nil {
					t.Fatal(err)
				}
				got, err := theirs.DecryptRTP(nil, sealed, nil)
				if err != nil {
					t.Fatalf("packet %d (seq %d): pion cannot decrypt: %v", i, seq, err)
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("packet %d (seq %d): decrypted to other bytes", i, seq)
				}
			}
		})
	}
}

func TestNewContextRejectsBadKeys(t *testing.T) {
	if _, err := NewContext(AEADAES128GCM, make([]byte, 16), make([]byte, 14)); err == nil {
		t.Error("GCM with a 14-byte salt was accepted")
	}
	if _, err := NewContext(Profile(0x99), make([]byte, 16), make([]byte, 14)); err == nil {
		t.Error("an unknown profile was accepted")
	}
	c, _ := NewContext(AEADAES128GCM, make([]byte, 16), make([]byte, 12))
	if _, err := c.Seal(make([]byte, 20), make([]byte, 100), 12); err == nil {
		t.Error("Seal into a short buffer succeeded")
	}
}

func BenchmarkSeal(b *testing.B) {
	for _, p := range profiles {
		b.Run(p.name, func(b *testing.B) {
			c, err := NewContext(p.ours, make([]byte, 16), make([]byte, p.ours.SaltLen()))
			if err != nil {
				b.Fatal(err)
			}
			h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 1}
			plain, _ := (&rtp.Packet{Header: h, Payload: make([]byte, 1188)}).Marshal()
			dst := make([]byte, 1600)
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				plain[3] = byte(i)
				plain[2] = byte(i >> 8)
				if _, err := c.Seal(dst, plain, 12); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
