package loadbot

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/dtls/v2"
	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v2"
	"github.com/pion/webrtc/v3"
)

// role picks the interceptors a bot's API runs.
type role int

const (
	rolePublisher role = iota
	roleSubscriber
)

// apiOptions make a bot's webrtc.API differ from the shared one.
type apiOptions struct {
	role   role
	srtp   string
	net    transport.Net // shaped link; nil: the host's network
	noNACK bool          // subscribers: measure loss before retransmission
	// loopbackOnly keeps ICE on 127.0.0.0/8: tests and a local SFU never
	// need another interface, and bots then never touch the real network.
	loopbackOnly bool
	// nackTracks routes counted NACKs to tracks (subscribers).
	nackTracks *sync.Map
}

const repairedRIDURI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"

// newAPI builds a webrtc.API for bots. Bots of one role without a shaped
// link share one (the runner builds it once): the MediaEngine and
// interceptor registry are read-only after construction.
func newAPI(o apiOptions) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	videoFB := []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBNACK}, {Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
		{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"}, {Type: webrtc.TypeRTCPFBTransportCC},
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: vp8ClockRate, RTCPFeedback: videoFB},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: opusClockRate, Channels: 2,
			SDPFmtpLine:  "minptime=10;useinbandfec=1",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}},
		},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	exts := map[string][]webrtc.RTPCodecType{
		sdp.SDESMidURI:         {webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio},
		sdp.SDESRTPStreamIDURI: {webrtc.RTPCodecTypeVideo},
		repairedRIDURI:         {webrtc.RTPCodecTypeVideo},
		sdp.TransportCCURI:     {webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio},
		absCaptureTimeURI:      {webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio},
	}
	for uri, kinds := range exts {
		for _, k := range kinds {
			if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, k); err != nil {
				return nil, err
			}
		}
	}

	ir := &interceptor.Registry{}
	switch o.role {
	case rolePublisher:
		resp, err := nack.NewResponderInterceptor()
		if err != nil {
			return nil, err
		}
		ir.Add(resp)
		sr, err := report.NewSenderInterceptor()
		if err != nil {
			return nil, err
		}
		ir.Add(sr)
		// Sequence numbers the SFU's bandwidth estimator needs, as a
		// browser sends them.
		hx, err := twcc.NewHeaderExtensionInterceptor()
		if err != nil {
			return nil, err
		}
		ir.Add(hx)
	case roleSubscriber:
		if !o.noNACK {
			if o.nackTracks != nil {
				ir.Add(nackCounterFactory{tracks: o.nackTracks})
			}
			gen, err := nack.NewGeneratorInterceptor()
			if err != nil {
				return nil, err
			}
			ir.Add(gen)
		}
		fb, err := twcc.NewSenderInterceptor()
		if err != nil {
			return nil, err
		}
		ir.Add(fb)
		rr, err := report.NewReceiverInterceptor()
		if err != nil {
			return nil, err
		}
		ir.Add(rr)
	}

	se := webrtc.SettingEngine{}
	// Pion skips loopback candidates unless told; bots only ever talk to
	// a loopback SFU in tests and to whatever the URL names otherwise, so
	// loopback stays in and IPv6 and TCP stay out.
	se.SetIncludeLoopbackCandidate(true)
	// Pion's first DTLS retransmission waits 1 s; when the first flight is
	// lost (it races the peer's ICE completion) every join would take a
	// second longer than a browser's, whose WebRTC stack starts at 50 ms.
	se.SetDTLSRetransmissionInterval(100 * time.Millisecond)
	// The SFU's first check often arrives before its trickled candidate;
	// Pion then pairs the address as peer-reflexive for good and, as the
	// controlling side (publishers), waits 1 s before nominating it.
	// Browsers do not wait.
	se.SetPrflxAcceptanceMinWait(0)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if o.loopbackOnly {
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	} else {
		se.SetIPFilter(func(ip net.IP) bool { return !ip.IsLinkLocalUnicast() })
	}
	switch o.srtp {
	case SRTPBrowser, "":
		se.SetSRTPProtectionProfiles(dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	case SRTPGCM:
		se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM)
	case SRTPAll:
	default:
		return nil, fmt.Errorf("%w: unknown srtp %q", ErrConfig, o.srtp)
	}
	if o.net != nil {
		se.SetNet(o.net)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}
