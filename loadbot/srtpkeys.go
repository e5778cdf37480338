package loadbot

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/pion/dtls/v2"
	"github.com/pion/dtls/v2/pkg/crypto/prf"
	"github.com/pion/dtls/v2/pkg/protocol"
	"github.com/pion/dtls/v2/pkg/protocol/extension"
	"github.com/pion/dtls/v2/pkg/protocol/handshake"
	"github.com/pion/dtls/v2/pkg/protocol/recordlayer"
	"github.com/pion/srtp/v2"
)

// srtpKeys recovers the SRTP keys of a subscriber bot's own DTLS
// connection, so that its socket can decrypt media in place (mediaConn)
// instead of passing every packet through Pion's four goroutine hops.
//
// Pion keeps the keys to itself but offers what Wireshark uses: a key log
// (SettingEngine.SetDTLSKeyLogWriter, NSS format) with the master secret
// per client random. The two hellos, read off the wire as they pass the
// socket, give the randoms, the cipher suite (its PRF hash) and the SRTP
// profile; RFC 5764 §4.2 turns those into the keys, through the same
// srtp.Config.ExtractSessionKeysFromDTLS that Pion's DTLS transport calls.
// Each subscriber has its own srtpKeys (one DTLS connection), written by
// the key log, the socket's reader and its writers: mu guards it.
type srtpKeys struct {
	mu         sync.Mutex
	client     [handshake.RandomLength]byte
	server     [handshake.RandomLength]byte
	haveClient bool
	haveServer bool
	weClient   bool // this side sent the ClientHello
	suite      dtls.CipherSuiteID
	profile    dtls.SRTPProtectionProfile
	logRandom  [handshake.RandomLength]byte
	logMaster  []byte
}

// Errors deriving keys: all mean "not (yet) possible", and the packets
// keep going through Pion.
var (
	errKeysIncomplete = errors.New("srtp keys: handshake not seen completely")
	errKeysProfile    = errors.New("srtp keys: unsupported SRTP profile")
)

// srtcpReplayWindow is the SRTCP replay window: libwebrtc's 1024.
const srtcpReplayWindow = 1024

// Write takes key log lines, "CLIENT_RANDOM <hex random> <hex secret>".
// dtls writes one line per call; other labels are ignored.
func (k *srtpKeys) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(p, []byte{'\n'}) {
		f := bytes.Fields(line)
		if len(f) != 3 || string(f[0]) != "CLIENT_RANDOM" {
			continue
		}
		var cr [handshake.RandomLength]byte
		if n, err := hex.Decode(cr[:], f[1]); err != nil || n != len(cr) {
			continue
		}
		secret := make([]byte, hex.DecodedLen(len(f[2])))
		if _, err := hex.Decode(secret, f[2]); err != nil {
			continue
		}
		k.mu.Lock()
		k.logRandom, k.logMaster = cr, secret
		k.mu.Unlock()
	}
	return len(p), nil
}

// sniff reads the hellos from a DTLS datagram the socket sent (outgoing)
// or received. Anything else, including encrypted records, is skipped.
func (k *srtpKeys) sniff(datagram []byte, outgoing bool) {
	// Record header (RFC 6347 §4.1): type, version, epoch, 48-bit
	// sequence number, length. recordlayer.Header.Unmarshal skips the
	// length, so it is read here.
	for len(datagram) >= recordlayer.HeaderSize {
		typ := protocol.ContentType(datagram[0])
		epoch := binary.BigEndian.Uint16(datagram[3:])
		end := recordlayer.HeaderSize + int(binary.BigEndian.Uint16(datagram[recordlayer.HeaderSize-2:]))
		if end > len(datagram) {
			return
		}
		body := datagram[recordlayer.HeaderSize:end]
		datagram = datagram[end:]
		if typ != protocol.ContentTypeHandshake || epoch != 0 {
			continue
		}
		var hh handshake.Header
		if hh.Unmarshal(body) != nil || len(body) < handshake.HeaderLength+int(hh.FragmentLength) {
			continue
		}
		// Hellos are small; a fragmented one (never seen from Pion or a
		// browser) leaves the keys incomplete and media on Pion's path.
		if hh.FragmentOffset != 0 || hh.FragmentLength != hh.Length {
			continue
		}
		msg := body[handshake.HeaderLength : handshake.HeaderLength+int(hh.Length)]
		switch hh.Type {
		case handshake.TypeClientHello:
			var ch handshake.MessageClientHello
			if ch.Unmarshal(msg) != nil {
				continue
			}
			k.mu.Lock()
			k.client, k.haveClient, k.weClient = ch.Random.MarshalFixed(), true, outgoing
			k.mu.Unlock()
		case handshake.TypeServerHello:
			var sh handshake.MessageServerHello
			if sh.Unmarshal(msg) != nil || sh.CipherSuiteID == nil {
				continue
			}
			var profile dtls.SRTPProtectionProfile
			for _, e := range sh.Extensions {
				if u, ok := e.(*extension.UseSRTP); ok && len(u.ProtectionProfiles) == 1 {
					profile = dtls.SRTPProtectionProfile(u.ProtectionProfiles[0])
				}
			}
			k.mu.Lock()
			k.server, k.haveServer = sh.Random.MarshalFixed(), true
			k.suite, k.profile = dtls.CipherSuiteID(*sh.CipherSuiteID), profile
			k.mu.Unlock()
		}
	}
}

// remoteContext returns a context that decrypts what the peer sends (SRTP
// and SRTCP), once the handshake and the key log line have been seen.
func (k *srtpKeys) remoteContext() (*srtp.Context, error) {
	remote, _, err := k.contexts()
	return remote, err
}

// contexts returns the context that decrypts what the peer sends and the
// one that encrypts what this side sends.
func (k *srtpKeys) contexts() (remote, local *srtp.Context, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.haveClient || !k.haveServer || k.logMaster == nil || k.logRandom != k.client {
		return nil, nil, errKeysIncomplete
	}
	var profile srtp.ProtectionProfile
	switch k.profile {
	case dtls.SRTP_AEAD_AES_128_GCM:
		profile = srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AEAD_AES_256_GCM:
		profile = srtp.ProtectionProfileAeadAes256Gcm
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return nil, nil, fmt.Errorf("%w: %#04x", errKeysProfile, uint16(k.profile))
	}
	cfg := srtp.Config{Profile: profile}
	ex := exporter{master: k.logMaster, client: k.client, server: k.server, hash: prfHash(k.suite)}
	if err := cfg.ExtractSessionKeysFromDTLS(ex, k.weClient); err != nil {
		return nil, nil, err
	}
	// No SRTP replay window: TrackStats counts a second copy of a packet
	// as a duplicate and ignores it, as the window would have, without
	// Pion's allocation per packet (Pion's own default window, 64, also
	// dropped retransmissions arriving more than 64 packets late).
	if remote, err = srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, profile,
		srtp.SRTPNoReplayProtection(), srtp.SRTCPReplayProtection(srtcpReplayWindow)); err != nil {
		return nil, nil, err
	}
	if local, err = srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, profile); err != nil {
		return nil, nil, err
	}
	return remote, local, nil
}

// prfHash is the TLS 1.2 PRF hash of a cipher suite: SHA-384 for the
// *_SHA384 suites, SHA-256 for every other suite pion/dtls implements.
func prfHash(id dtls.CipherSuiteID) prf.HashFunc {
	switch id {
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, dtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return sha512.New384
	}
	return func() hash.Hash { return sha256.New() }
}

// exporter is RFC 5705's exporter for one finished handshake, as
// dtls.State.ExportKeyingMaterial computes it.
type exporter struct {
	master         []byte
	client, server [handshake.RandomLength]byte
	hash           prf.HashFunc
}

func (e exporter) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if len(context) != 0 {
		return nil, errors.New("srtp keys: exporter context unsupported")
	}
	seed := make([]byte, 0, len(label)+2*handshake.RandomLength)
	seed = append(append(append(seed, label...), e.client[:]...), e.server[:]...)
	return prf.PHash(e.master, seed, length, e.hash)
}
