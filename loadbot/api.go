package loadbot

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/pion/dtls/v2"
	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
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
	role role
	srtp string
	net  transport.Net // shaped link or a subscriber's mediaNet; nil: the host's network
	// loopbackOnly keeps ICE on 127.0.0.0/8: tests and a local SFU never
	// need another interface, and bots then never touch the real network.
	loopbackOnly bool
	// keyLog receives the DTLS key log (a subscriber's srtpKeys).
	keyLog io.Writer
	// bwe, for a publisher, adds a send-side bandwidth estimator (GCC)
	// sized for layers and hands it over when the PeerConnection is built.
	bwe    func(cc.BandwidthEstimator)
	layers []Layer
	ice    iceTransport // the run's forced ICE path
}

// browserSRTPProfiles is the use_srtp list of Chromium's DTLS ClientHello,
// in its order (Chromium 156, captured on the wire; sfu/web's browser test
// compares it with the real one). As DTLS server a browser picks its own
// first choice, AES-CM; as client it lets the server choose, and Surge picks
// AES-GCM. Bots offering this list negotiate what a browser would.
var browserSRTPProfiles = []dtls.SRTPProtectionProfile{
	dtls.SRTP_AES128_CM_HMAC_SHA1_80, dtls.SRTP_AEAD_AES_256_GCM, dtls.SRTP_AEAD_AES_128_GCM,
}

// publisherBWE is GCC on the TWCC feedback the SFU sends publishers. It
// starts at what every layer needs, as Chromium's estimate stands once
// its start-up probes are done, never falls below the lowest layer and
// needs no more than twice the sum of all.
func publisherBWE(layers []Layer, onBWE func(cc.BandwidthEstimator)) (*cc.InterceptorFactory, error) {
	sum := 0
	for _, l := range layers {
		sum += l.BitrateKbps * 1000
	}
	lowest := layers[0].BitrateKbps * 1000
	f, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		// The no-op pacer: Pion's leaky bucket clones and logs every
		// packet; a frame's packets go out back to back, as Chromium's
		// pacer lets a frame burst at 2.5 × the estimate.
		return gcc.NewSendSideBWE(gcc.SendSideBWEInitialBitrate(sum*6/5), gcc.SendSideBWEMinBitrate(lowest),
			gcc.SendSideBWEMaxBitrate(2*sum), gcc.SendSideBWEPacer(gcc.NewNoOpPacer()))
	})
	if err != nil {
		return nil, err
	}
	f.OnNewPeerConnection(func(_ string, est cc.BandwidthEstimator) { onBWE(est) })
	return f, nil
}

const repairedRIDURI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"

// newAPI builds a webrtc.API for bots. Publishers without a shaped link
// share one (the runner builds it once); each subscriber has its own, whose
// network and key log feed its receive fast path (mediaconn.go).
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
		if o.bwe != nil {
			f, err := publisherBWE(o.layers, o.bwe)
			if err != nil {
				return nil, err
			}
			ir.Add(f)
		}
		// Sequence numbers the SFU's bandwidth estimator needs, as a
		// browser sends them; added after GCC so that its writer sees them.
		hx, err := twcc.NewHeaderExtensionInterceptor()
		if err != nil {
			return nil, err
		}
		ir.Add(hx)
	case roleSubscriber:
		// No interceptors: a subscriber's NACKs, PLIs, TWCC feedback and
		// receiver reports come from its own receive state (subscriber.go),
		// which spares every packet three header parses and a goroutine
		// hand-off (Pion's TWCC sender passes each packet over a channel).
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
		se.SetSRTPProtectionProfiles(browserSRTPProfiles...)
	case SRTPGCM:
		se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM)
	case SRTPAll:
	default:
		return nil, fmt.Errorf("%w: unknown srtp %q", ErrConfig, o.srtp)
	}
	if o.net != nil {
		se.SetNet(o.net)
	}
	if o.keyLog != nil {
		se.SetDTLSKeyLogWriter(o.keyLog)
	}
	o.ice.apply(&se)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}
