// Package srtpfast is the SFU's own SRTP for its busiest traffic: it seals
// forwarded RTP (Context) and opens subscribers' SRTCP (RTCPContext)
// without allocating, so that what a packet costs is the cipher's and
// nothing else's (pion/srtp's sessions allocate per packet and pass every
// packet through several locked layers and an extra unmarshal).
//
// Keys come from the DTLS handshake Pion ran (see sfu/srtpbridge.go); a
// Context holds the derived session keys for one SSRC and tracks its
// rollover counter. Supported profiles are the two WebRTC uses:
// AEAD_AES_128_GCM (RFC 7714) and AES128_CM_HMAC_SHA1_80 (RFC 3711).
package srtpfast

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // SRTP's AES128_CM_HMAC_SHA1_80 is defined on SHA-1
	"encoding/binary"
	"errors"
	"hash"
)

// Profile is an SRTP protection profile.
type Profile uint8

// Profiles, numbered as in pion/srtp and RFC 5764.
const (
	AES128CMHMACSHA1_80 Profile = 0x0001
	AEADAES128GCM       Profile = 0x0007
)

// Errors.
var (
	ErrProfile = errors.New("srtpfast: unsupported protection profile")
	ErrKey     = errors.New("srtpfast: wrong master key or salt length")
	ErrSpace   = errors.New("srtpfast: destination buffer too small")
)

// KeyLen and SaltLen are the master key and salt sizes of p.
func (p Profile) KeyLen() int { return 16 }

// SaltLen is the master salt size of p.
func (p Profile) SaltLen() int {
	if p == AEADAES128GCM {
		return 12
	}
	return 14
}

// Overhead is how many bytes Seal adds to a packet.
func (p Profile) Overhead() int {
	if p == AEADAES128GCM {
		return 16
	}
	return 10
}

// Context seals the packets of one SSRC. Not safe for concurrent use.
type Context struct {
	profile Profile
	salt    [14]byte // session salt (12 bytes used by GCM)

	aead cipher.AEAD // GCM

	block   cipher.Block // AES-CM
	mac     hash.Hash
	macSum  [sha1.Size]byte
	counter [16]byte
	stream  [16]byte
	rocBuf  [4]byte

	iv [12]byte

	started bool
	roc     uint32
	lastSeq uint16
}

// NewContext derives the session keys of one direction from its master key
// and salt.
func NewContext(p Profile, masterKey, masterSalt []byte) (*Context, error) {
	if p != AEADAES128GCM && p != AES128CMHMACSHA1_80 {
		return nil, ErrProfile
	}
	if len(masterKey) != p.KeyLen() || len(masterSalt) != p.SaltLen() {
		return nil, ErrKey
	}
	c := &Context{profile: p}
	key, err := derive(0x00, masterKey, masterSalt, 16)
	if err != nil {
		return nil, err
	}
	salt, err := derive(0x02, masterKey, masterSalt, p.SaltLen())
	if err != nil {
		return nil, err
	}
	copy(c.salt[:], salt)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if p == AEADAES128GCM {
		c.aead, err = cipher.NewGCM(block)
		return c, err
	}
	auth, err := derive(0x01, masterKey, masterSalt, 20)
	if err != nil {
		return nil, err
	}
	c.block, c.mac = block, hmac.New(sha1.New, auth)
	return c, nil
}

// derive is RFC 3711's key derivation (AES-CM PRF, key derivation rate 0),
// which RFC 7714 keeps for GCM.
func derive(label byte, masterKey, masterSalt []byte, n int) ([]byte, error) {
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, err
	}
	var x [16]byte
	copy(x[:], masterSalt)
	x[7] ^= label
	out := make([]byte, (n+15)/16*16)
	for i := 0; i*16 < n; i++ {
		binary.BigEndian.PutUint16(x[14:], uint16(i))
		block.Encrypt(out[i*16:], x[:])
	}
	return out[:n], nil
}

// Seal encrypts the RTP packet pkt (header of headerLen bytes, then the
// payload) into dst, which may not overlap pkt, and returns the SRTP packet,
// a prefix of dst. Sequence numbers must come in sending order
// (retransmissions may repeat older ones); the rollover counter follows them.
func (c *Context) Seal(dst, pkt []byte, headerLen int) ([]byte, error) {
	if headerLen > len(pkt) {
		return nil, ErrSpace
	}
	return c.SealParts(dst, pkt[:headerLen], pkt[headerLen:])
}

// SealParts is Seal for a packet whose header and payload lie apart: the
// fan-out seals each subscriber's header and the shared payload straight
// into the send buffer, without first copying both into one plaintext.
// dst may overlap neither.
func (c *Context) SealParts(dst, header, payload []byte) ([]byte, error) {
	headerLen := len(header)
	if headerLen < 12 {
		return nil, ErrSpace
	}
	size := headerLen + len(payload)
	out := size + c.profile.Overhead()
	if len(dst) < out {
		return nil, ErrSpace
	}
	ssrc := binary.BigEndian.Uint32(header[8:])
	seq := binary.BigEndian.Uint16(header[2:])
	roc := c.rollover(seq)
	copy(dst, header)
	if c.aead != nil {
		c.iv = [12]byte{}
		binary.BigEndian.PutUint32(c.iv[2:], ssrc)
		binary.BigEndian.PutUint32(c.iv[6:], roc)
		binary.BigEndian.PutUint16(c.iv[10:], seq)
		for i := range c.iv {
			c.iv[i] ^= c.salt[i]
		}
		c.aead.Seal(dst[headerLen:headerLen], c.iv[:], payload, header)
		return dst[:out], nil
	}
	// AES-CM: keystream blocks from IV = salt ^ (SSRC << 64) ^ (index << 16).
	c.counter = [16]byte{}
	copy(c.counter[:], c.salt[:14])
	binary.BigEndian.PutUint32(c.counter[4:], binary.BigEndian.Uint32(c.counter[4:])^ssrc)
	binary.BigEndian.PutUint32(c.counter[8:], binary.BigEndian.Uint32(c.counter[8:])^roc)
	binary.BigEndian.PutUint16(c.counter[12:], binary.BigEndian.Uint16(c.counter[12:])^seq)
	enc := dst[headerLen:size]
	for i := 0; i < len(payload); i += 16 {
		binary.BigEndian.PutUint16(c.counter[14:], uint16(i/16))
		c.block.Encrypt(c.stream[:], c.counter[:])
		end := min(i+16, len(payload))
		subtleXOR(enc[i:end], payload[i:end], c.stream[:end-i])
	}
	c.mac.Reset()
	c.mac.Write(dst[:size])
	binary.BigEndian.PutUint32(c.rocBuf[:], roc)
	c.mac.Write(c.rocBuf[:])
	sum := c.mac.Sum(c.macSum[:0])
	copy(dst[size:], sum[:10])
	return dst[:out], nil
}

func subtleXOR(dst, a, b []byte) {
	for i := range dst {
		dst[i] = a[i] ^ b[i]
	}
}

// rollover tracks the rollover counter (RFC 3711 §3.3.1): the index is
// guessed nearest the highest sequence number sent.
func (c *Context) rollover(seq uint16) uint32 {
	if !c.started {
		c.started, c.lastSeq = true, seq
		return c.roc
	}
	diff := int32(seq) - int32(c.lastSeq)
	switch {
	case diff > 0x7fff: // an older packet from before a wrap
		return c.roc - 1
	case diff < -0x7fff: // wrapped forward
		c.roc++
		c.lastSeq = seq
	case diff > 0:
		c.lastSeq = seq
	}
	return c.roc
}
