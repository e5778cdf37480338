package sfu

import (
	"errors"
	"reflect"
	"strings"

	"github.com/pion/dtls/v2"
	"github.com/pion/srtp/v2"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/sfu/srtpfast"
)

// The fast send path seals packets itself (sfu/srtpfast), so it needs the
// SRTP keys Pion derived from the subscriber's DTLS handshake. Pion v3
// keeps the DTLS connection in an unexported field of DTLSTransport and
// offers no accessor; this file is the one place that reaches into it, by
// name and checked type, so that a Pion upgrade that moves it turns the fast
// path off (packets go through Pion's writer) instead of breaking anything.
// TestSendKeysMatchPion pins it for the Pion version in go.mod.

var errNoDTLSConn = errors.New("sfu: the DTLS connection is not reachable in this Pion version")

var dtlsConnType = reflect.TypeOf((*dtls.Conn)(nil))

// dtlsConnOf returns the DTLS connection of a connected transport.
func dtlsConnOf(t *webrtc.DTLSTransport) (*dtls.Conn, error) {
	if t == nil {
		return nil, errNoDTLSConn
	}
	f := reflect.ValueOf(t).Elem().FieldByName("conn")
	if !f.IsValid() || f.Type() != dtlsConnType || f.IsNil() {
		return nil, errNoDTLSConn
	}
	return (*dtls.Conn)(f.UnsafePointer()), nil
}

// sessionKeys are the SRTP master keys of one PeerConnection: ours for
// what we send, the peer's for what it sends.
type sessionKeys struct {
	profile               srtpfast.Profile
	localKey, localSalt   []byte
	remoteKey, remoteSalt []byte
}

// srtpKeys are pc's SRTP keys. Call it once DTLS is connected.
func srtpKeys(pc *webrtc.PeerConnection) (sessionKeys, error) {
	// Pion writes the transport's conn without a lock, then stores the
	// connected state atomically: seeing that state orders the read of
	// conn after the write. Before it (an early selected-pair change) the
	// keys do not exist yet; the connected callback asks again.
	if pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		return sessionKeys{}, errNoDTLSConn
	}
	sctp := pc.SCTP()
	if sctp == nil {
		return sessionKeys{}, errNoDTLSConn
	}
	conn, err := dtlsConnOf(sctp.Transport())
	if err != nil {
		return sessionKeys{}, err
	}
	prof, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return sessionKeys{}, errors.New("sfu: no SRTP profile negotiated")
	}
	var sp srtpfast.Profile
	var pp srtp.ProtectionProfile
	switch prof {
	case dtls.SRTP_AEAD_AES_128_GCM:
		sp, pp = srtpfast.AEADAES128GCM, srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		sp, pp = srtpfast.AES128CMHMACSHA1_80, srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return sessionKeys{}, srtpfast.ErrProfile
	}
	client, err := dtlsClient(pc)
	if err != nil {
		return sessionKeys{}, err
	}
	state := conn.ConnectionState()
	cfg := srtp.Config{Profile: pp}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, client); err != nil {
		return sessionKeys{}, err
	}
	k := cfg.Keys
	return sessionKeys{sp, k.LocalMasterKey, k.LocalMasterSalt, k.RemoteMasterKey, k.RemoteMasterSalt}, nil
}

// dtlsClient reports whether this end is the DTLS client, from the remote
// description's a=setup: a remote "active" is the client, "passive" the
// server (RFC 5763). Pion decides its role the same way.
func dtlsClient(pc *webrtc.PeerConnection) (bool, error) {
	rd := pc.CurrentRemoteDescription()
	if rd == nil {
		return false, errors.New("sfu: no remote description")
	}
	switch {
	case strings.Contains(rd.SDP, "a=setup:active"):
		return false, nil
	case strings.Contains(rd.SDP, "a=setup:passive"):
		return true, nil
	}
	// An offer from the remote with actpass: Pion answers active (client)
	// unless told otherwise.
	return rd.Type == webrtc.SDPTypeOffer, nil
}
