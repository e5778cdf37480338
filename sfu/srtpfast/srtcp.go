package srtpfast

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // SRTCP's AES128_CM_HMAC_SHA1_80 is defined on SHA-1
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"hash"
)

// Errors of Open.
var (
	ErrShort  = errors.New("srtpfast: SRTCP packet too short")
	ErrAuth   = errors.New("srtpfast: SRTCP authentication failed")
	ErrReplay = errors.New("srtpfast: SRTCP packet replayed or too old")
)

const replayWindow = 64

// RTCPContext opens the SRTCP packets one peer sends, or seals one's own.
// Not safe for concurrent use.
type RTCPContext struct {
	profile Profile
	salt    [14]byte

	aead cipher.AEAD

	block   cipher.Block
	mac     hash.Hash
	macSum  [sha1.Size]byte
	counter [16]byte
	stream  [16]byte

	iv  [12]byte
	aad [12]byte

	// Replay protection: the highest index accepted and a bitmap of the
	// replayWindow indexes below it.
	started bool
	highest uint32
	seen    uint64
}

// NewRTCPContext derives the SRTCP session keys from the peer's master key
// and salt (labels 3, 4 and 5 of RFC 3711's key derivation).
func NewRTCPContext(p Profile, masterKey, masterSalt []byte) (*RTCPContext, error) {
	if p != AEADAES128GCM && p != AES128CMHMACSHA1_80 {
		return nil, ErrProfile
	}
	if len(masterKey) != p.KeyLen() || len(masterSalt) != p.SaltLen() {
		return nil, ErrKey
	}
	c := &RTCPContext{profile: p}
	key, err := derive(0x03, masterKey, masterSalt, 16)
	if err != nil {
		return nil, err
	}
	salt, err := derive(0x05, masterKey, masterSalt, p.SaltLen())
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
	auth, err := derive(0x04, masterKey, masterSalt, 20)
	if err != nil {
		return nil, err
	}
	c.block, c.mac = block, hmac.New(sha1.New, auth)
	return c, nil
}

// Open authenticates and decrypts the SRTCP packet pkt in place and returns
// the plain compound RTCP packet, a prefix of pkt. A packet that fails
// authentication or repeats an index already seen is refused and changes
// nothing.
func (c *RTCPContext) Open(pkt []byte) ([]byte, error) {
	tag := c.profile.Overhead()
	if len(pkt) < 8+tag+4 {
		return nil, ErrShort
	}
	var body, trailer []byte
	if c.aead != nil {
		// header(8) | ciphertext+tag | E+index(4)
		body, trailer = pkt[:len(pkt)-4], pkt[len(pkt)-4:]
	} else {
		// header(8) | ciphertext | E+index(4) | tag(10)
		body, trailer = pkt[:len(pkt)-tag-4], pkt[len(pkt)-tag-4:len(pkt)-tag]
	}
	word := binary.BigEndian.Uint32(trailer)
	encrypted, index := word>>31 == 1, word&0x7fffffff
	if !c.fresh(index) {
		return nil, ErrReplay
	}
	ssrc := binary.BigEndian.Uint32(pkt[4:])
	var plain []byte
	if c.aead != nil {
		c.gcmIV(ssrc, index)
		if encrypted {
			copy(c.aad[:8], pkt[:8])
			copy(c.aad[8:], trailer)
			out, err := c.aead.Open(body[8:8], c.iv[:], body[8:], c.aad[:])
			if err != nil {
				return nil, ErrAuth
			}
			plain = pkt[:8+len(out)]
		} else {
			// Authenticated only: the tag covers header, body and trailer.
			return nil, ErrAuth // browsers always encrypt; not worth a path
		}
	} else {
		c.mac.Reset()
		c.mac.Write(pkt[:len(pkt)-tag])
		sum := c.mac.Sum(c.macSum[:0])
		if subtle.ConstantTimeCompare(sum[:tag], pkt[len(pkt)-tag:]) != 1 {
			return nil, ErrAuth
		}
		plain = body
		if encrypted {
			c.xorKeystream(body[8:], ssrc, index)
		}
	}
	c.accept(index)
	return plain, nil
}

// gcmIV sets c.iv to RFC 7714's SRTCP IV: salt ^ (SSRC, index).
func (c *RTCPContext) gcmIV(ssrc, index uint32) {
	c.iv = [12]byte{}
	binary.BigEndian.PutUint32(c.iv[2:], ssrc)
	binary.BigEndian.PutUint32(c.iv[8:], index)
	for i := range c.iv {
		c.iv[i] ^= c.salt[i]
	}
}

// xorKeystream applies AES-CM with IV = salt ^ (SSRC << 64) ^ (index << 16)
// to data in place: encryption and decryption alike.
func (c *RTCPContext) xorKeystream(data []byte, ssrc, index uint32) {
	c.counter = [16]byte{}
	copy(c.counter[:], c.salt[:14])
	binary.BigEndian.PutUint32(c.counter[4:], binary.BigEndian.Uint32(c.counter[4:])^ssrc)
	binary.BigEndian.PutUint16(c.counter[10:], binary.BigEndian.Uint16(c.counter[10:])^uint16(index>>16))
	binary.BigEndian.PutUint16(c.counter[12:], binary.BigEndian.Uint16(c.counter[12:])^uint16(index))
	for i := 0; i < len(data); i += 16 {
		binary.BigEndian.PutUint16(c.counter[14:], uint16(i/16))
		c.block.Encrypt(c.stream[:], c.counter[:])
		end := min(i+16, len(data))
		subtleXOR(data[i:end], data[i:end], c.stream[:end-i])
	}
}

// SealedLen is how long Seal makes a compound RTCP packet of n bytes.
func (c *RTCPContext) SealedLen(n int) int { return n + 4 + c.profile.Overhead() }

// Seal encrypts the compound RTCP packet pkt into dst (which may not
// overlap it) as SRTCP packet number index and returns it, a prefix of dst.
// A context made from one's own master key seals; one made from the peer's
// opens. The caller numbers the packets: indexes must grow, one per packet,
// for as long as the keys live, or the peer drops the repeats as replays.
func (c *RTCPContext) Seal(dst, pkt []byte, index uint32) ([]byte, error) {
	if len(pkt) < 8 {
		return nil, ErrShort
	}
	out := c.SealedLen(len(pkt))
	if len(dst) < out {
		return nil, ErrSpace
	}
	index &= 0x7fffffff
	ssrc := binary.BigEndian.Uint32(pkt[4:])
	word := index | 1<<31 // E: encrypted
	copy(dst, pkt[:8])
	if c.aead != nil {
		// header(8) | ciphertext+tag | E+index(4)
		c.gcmIV(ssrc, index)
		copy(c.aad[:8], pkt[:8])
		binary.BigEndian.PutUint32(c.aad[8:], word)
		c.aead.Seal(dst[8:8], c.iv[:], pkt[8:], c.aad[:])
		binary.BigEndian.PutUint32(dst[out-4:], word)
		return dst[:out], nil
	}
	// header(8) | ciphertext | E+index(4) | tag(10) over all before it
	copy(dst[8:], pkt[8:])
	c.xorKeystream(dst[8:len(pkt)], ssrc, index)
	binary.BigEndian.PutUint32(dst[len(pkt):], word)
	c.mac.Reset()
	c.mac.Write(dst[:len(pkt)+4])
	sum := c.mac.Sum(c.macSum[:0])
	copy(dst[len(pkt)+4:], sum[:10])
	return dst[:out], nil
}

// fresh reports whether index is new: above the highest, or in the window
// below it and not seen.
func (c *RTCPContext) fresh(index uint32) bool {
	if !c.started || index > c.highest {
		return true
	}
	back := c.highest - index
	return back < replayWindow && c.seen&(1<<back) == 0
}

func (c *RTCPContext) accept(index uint32) {
	switch {
	case !c.started:
		c.started, c.highest, c.seen = true, index, 1
	case index > c.highest:
		shift := index - c.highest
		if shift >= replayWindow {
			c.seen = 0
		} else {
			c.seen <<= shift
		}
		c.seen |= 1
		c.highest = index
	default:
		c.seen |= 1 << (c.highest - index)
	}
}
