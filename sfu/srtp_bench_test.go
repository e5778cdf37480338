package sfu

import (
	"crypto/rand"
	"encoding/binary"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v2"
)

// BenchmarkSRTPEncrypt measures what encrypting one 1200-byte packet costs
// per subscriber under each profile the SFU accepts (rtc.go chooses
// AEAD_AES_128_GCM whenever the peer offers it, Chromium included, and
// AES128_CM_HMAC_SHA1_80 for peers that offer nothing else). Every
// forwarded packet is encrypted once per subscriber, so the ratio of the two
// is the price of an AES-CM subscriber against a GCM one. dst is reused, as
// Pion's SRTP write path does.
func BenchmarkSRTPEncrypt(b *testing.B) {
	for _, tc := range []struct {
		name    string
		profile srtp.ProtectionProfile
	}{
		{"AEAD_AES_128_GCM", srtp.ProtectionProfileAeadAes128Gcm},
		{"AES128_CM_HMAC_SHA1_80", srtp.ProtectionProfileAes128CmHmacSha1_80},
	} {
		b.Run(tc.name, func(b *testing.B) { benchEncrypt(b, tc.profile) })
	}
}

func benchEncrypt(b *testing.B, profile srtp.ProtectionProfile) {
	keyLen, err := profile.KeyLen()
	if err != nil {
		b.Fatal(err)
	}
	saltLen, err := profile.SaltLen()
	if err != nil {
		b.Fatal(err)
	}
	key, salt := make([]byte, keyLen), make([]byte, saltLen)
	_, _ = rand.Read(key)
	_, _ = rand.Read(salt)
	ctx, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		b.Fatal(err)
	}
	const size = 1200
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 0x1234, SequenceNumber: 1, Timestamp: 9000}, Payload: make([]byte, size-12)}
	_, _ = rand.Read(pkt.Payload)
	plain, err := pkt.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, size+64) // room for the tag (16 GCM, 10 CM)
	var hdr rtp.Header
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A new sequence number each time, as a stream has: the
		// rollover-counter bookkeeping is part of the cost.
		binary.BigEndian.PutUint16(plain[2:], uint16(i))
		out, err := ctx.EncryptRTP(dst[:0], plain, &hdr)
		if err != nil {
			b.Fatal(err)
		}
		dst = out[:0]
	}
}
