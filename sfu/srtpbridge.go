package sfu

import (
	"errors"
	"reflect"
	"strings"

	"github.com/pion/dtls/v2"
	"github.com/pion/srtp/v2"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/sfu/srtpsend"
)

// The fast send path seals packets itself (sfu/srtpsend), so it needs the
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

// sendKeys is the profile, master key and master salt this end encrypts
// with on pc. Call it once DTLS is connected. isClient tells which half of
// the exported keying material is ours; see dtlsClient.
func sendKeys(pc *webrtc.PeerConnection) (srtpsend.Profile, []byte, []byte, error) {
	sctp := pc.SCTP()
	if sctp == nil {
		return 0, nil, nil, errNoDTLSConn
	}
	conn, err := dtlsConnOf(sctp.Transport())
	if err != nil {
		return 0, nil, nil, err
	}
	prof, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return 0, nil, nil, errors.New("sfu: no SRTP profile negotiated")
	}
	var sp srtpsend.Profile
	var pp srtp.ProtectionProfile
	switch prof {
	case dtls.SRTP_AEAD_AES_128_GCM:
		sp, pp = srtpsend.AEADAES128GCM, srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		sp, pp = srtpsend.AES128CMHMACSHA1_80, srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return 0, nil, nil, srtpsend.ErrProfile
	}
	client, err := dtlsClient(pc)
	if err != nil {
		return 0, nil, nil, err
	}
	state := conn.ConnectionState()
	cfg := srtp.Config{Profile: pp}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, client); err != nil {
		return 0, nil, nil, err
	}
	return sp, cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, nil
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
