package sfu

import (
	"fmt"
	"net"
	"time"

	"github.com/pion/dtls/v2"
	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
)

// Header extension URIs the SFU negotiates.
const (
	uriAbsCaptureTime      = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"
	uriAbsSendTime         = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
	uriRepairedRTPStreamID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
)

// rtcEngine builds the two webrtc.APIs a node uses, sharing one UDP socket
// through the ICE UDP mux. The publish side receives media, so it runs the
// interceptors that talk to publishers (NACK generation, receiver reports,
// TWCC feedback). The subscribe side sends media and runs no interceptor at
// all: every one costs per packet per subscriber, so the DownTracks stamp
// transport-wide sequence numbers themselves, keep the send history for
// feedback (sfu/bwe), answer NACKs from the SFU's own packet cache and send
// their own sender reports.
type rtcEngine struct {
	publish   *webrtc.API
	subscribe *webrtc.API
	mux       interface{ Close() error }
	certs     *dtlsCerts
}

// wrapMux, if not nil, wraps the ICE UDP mux (the per-peer stream guard);
// opts adjust the SettingEngine after the defaults (ICE-TCP, see
// connectivity.go).
func newRTCEngine(cfg RTCConfig, udp net.PacketConn, logs logging.LoggerFactory, wrapMux func(ice.UDPMux) ice.UDPMux, opts ...func(*webrtc.SettingEngine)) (*rtcEngine, error) {
	se := webrtc.SettingEngine{LoggerFactory: logs}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	mux := webrtc.NewICEUDPMux(logs.NewLogger("ice-mux"), udp)
	if wrapMux != nil {
		mux = wrapMux(mux)
	}
	se.SetICEUDPMux(mux)
	if len(cfg.NAT1To1IPs) > 0 {
		se.SetNAT1To1IPs(cfg.NAT1To1IPs, webrtc.ICECandidateTypeHost)
	}
	// AES-GCM costs a fraction of AES-CM-HMAC per packet (srtp_bench_test.go),
	// so the SFU chooses it whenever the peer offers it, and AES-CM only for
	// peers that offer nothing else. The DTLS server chooses: Chromium offers
	// AES-CM first and, as server, picks its own first choice, so the SFU is
	// the server on both PeerConnections: it answers the publish side's offer
	// with a=setup:passive, and browsers and Pion answer its subscribe-side
	// offer (actpass) as the client. Pion's own server used to take the
	// client's order; third_party/pion-dtls-v2 takes the server's.
	se.SetSRTPProtectionProfiles(srtpProfiles...)
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		return nil, err
	}
	// Detect vanished peers in seconds rather than the default 30 s, so their
	// resources are freed and others stop being renegotiated for them.
	se.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	// Pion waits 1 s before its first DTLS retransmission; the first flight
	// is often lost racing the peer's ICE completion, which added a second
	// to a fifth of joins (join p99 ~1 s in the selftest). Browsers start at
	// 50 ms.
	se.SetDTLSRetransmissionInterval(100 * time.Millisecond)
	// A client's connectivity check often arrives before its trickled
	// candidate does; Pion then knows the address only as peer-reflexive,
	// keeps attributing every check to that candidate even after the
	// signaled one arrives, and as controlling side waits 1 s before
	// nominating it: the second mode (~800 ms p50) of the join storm.
	se.SetPrflxAcceptanceMinWait(0)
	for _, o := range opts {
		o(&se)
	}

	pubME, err := newMediaEngine(cfg.H264, true)
	if err != nil {
		return nil, err
	}
	pubIR := &interceptor.Registry{}
	pubIR.Add(headerReuseFactory{}) // first, so it sits innermost
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	pubIR.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, err
	}
	pubIR.Add(rr)
	// What webrtc.ConfigureTWCCSender registers, with Surge's own feedback
	// (twccfeedback.go) in place of Pion's twcc.SenderInterceptor.
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		pubME.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, k)
		if err := pubME.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, k); err != nil {
			return nil, err
		}
	}
	pubIR.Add(twccFeedbackFactory{})

	subME, err := newMediaEngine(cfg.H264, false)
	if err != nil {
		return nil, err
	}
	e := &rtcEngine{mux: mux, certs: newDTLSCerts(time.Now)}
	subIR := &interceptor.Registry{}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := subME.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, k); err != nil {
			return nil, err
		}
	}
	e.publish = webrtc.NewAPI(webrtc.WithMediaEngine(pubME), webrtc.WithInterceptorRegistry(pubIR), webrtc.WithSettingEngine(se))
	e.subscribe = webrtc.NewAPI(webrtc.WithMediaEngine(subME), webrtc.WithInterceptorRegistry(subIR), webrtc.WithSettingEngine(se))
	return e, nil
}

// srtpProfiles are the SRTP protection profiles the SFU accepts, best first.
var srtpProfiles = []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80}

// Audio packets count toward the subscriber's estimate too.
var audioFeedback = []webrtc.RTCPFeedback{{Type: "transport-cc"}}

var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}, {Type: "transport-cc"},
}

// newMediaEngine registers Opus, VP8 (and H.264) and the header extensions.
// The publish side also takes the simulcast extensions (mid, rid, repaired rid).
func newMediaEngine(h264, publish bool) (*webrtc.MediaEngine, error) {
	me := &webrtc.MediaEngine{}
	codecs := []struct {
		c webrtc.RTPCodecParameters
		t webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: audioFeedback}, PayloadType: 111}, webrtc.RTPCodecTypeAudio},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 96}, webrtc.RTPCodecTypeVideo},
	}
	if h264 {
		codecs = append(codecs, struct {
			c webrtc.RTPCodecParameters
			t webrtc.RTPCodecType
		}{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: videoFeedback}, PayloadType: 125}, webrtc.RTPCodecTypeVideo})
	}
	for _, c := range codecs {
		if err := me.RegisterCodec(c.c, c.t); err != nil {
			return nil, fmt.Errorf("register codec %s: %w", c.c.MimeType, err)
		}
	}
	exts := []string{uriAbsCaptureTime}
	videoExts := []string{uriAbsCaptureTime}
	if publish {
		exts = append(exts, sdp.SDESMidURI)
		videoExts = append(videoExts, sdp.SDESMidURI, sdp.SDESRTPStreamIDURI, uriRepairedRTPStreamID, uriAbsSendTime)
	}
	for _, u := range exts {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: u}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	for _, u := range videoExts {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: u}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	return me, nil
}
