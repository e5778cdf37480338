package loadbot

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/sfu/signal"
)

// publisher owns a bot's publish PeerConnection and its send loops: one
// goroutine per simulcast layer and one for audio, each a plain ticker loop
// writing synthetic packets, plus one RTCP reader per encoding (Pion's
// interceptors, the NACK responder among them, only see RTCP that is read).
type publisher struct {
	b *bot

	mu    sync.Mutex
	pc    *webrtc.PeerConnection
	cands candidates

	audio       *webrtc.TrackLocalStaticRTP
	audioSender *webrtc.RTPSender
	audioMid    []byte
	audioIDs    extIDs

	layers      []Layer
	video       []*webrtc.TrackLocalStaticRTP
	videoSender *webrtc.RTPSender
	videoMid    []byte
	videoIDs    extIDs
	keyReq      []atomic.Bool // per layer: a PLI/FIR asked for a keyframe

	// With a bandwidth estimator (Config.PublisherBWE): what each layer
	// may send, in bps (0: stopped), from the allocator.
	rates []atomic.Int64
	// ratesView publishes rates to readers outside the bot's goroutines
	// (layerRates), once offer has made it.
	ratesView atomic.Pointer[[]atomic.Int64]
	allocMu   sync.Mutex
	alloc     *layerAllocator
	allocTo   []int

	stop     chan struct{}
	stopOnce sync.Once
	sendOnce sync.Once
	wg       sync.WaitGroup // send loops
	rtcpWG   sync.WaitGroup // RTCP readers
	reading  atomic.Bool    // RTCP readers were started
}

// layerRates is what each layer is sent at now (bps), nil before the
// offer; safe from any goroutine.
func (p *publisher) layerRates() []int64 {
	rs := p.ratesView.Load()
	if rs == nil {
		return nil
	}
	out := make([]int64, len(*rs))
	for i := range *rs {
		out[i] = (*rs)[i].Load()
	}
	return out
}

func newPublisher(b *bot) *publisher {
	return &publisher{b: b, stop: make(chan struct{})}
}

// offer builds the PeerConnection with its tracks and sends the offer,
// candidates included (loopback gathering takes a millisecond, and one
// message is simpler for the server than trickle).
func (p *publisher) offer() error {
	cfg := p.b.env.cfg
	if cfg.Video {
		p.layers = cfg.Layers
		if !cfg.Simulcast {
			// One stream, no RID: the top layer, as a browser without
			// simulcast sends.
			top := cfg.Layers[len(cfg.Layers)-1]
			top.RID = ""
			p.layers = []Layer{top}
		}
		p.rates = make([]atomic.Int64, len(p.layers))
		targets := make([]int, len(p.layers))
		for i, l := range p.layers {
			targets[i] = l.BitrateKbps * 1000
			p.rates[i].Store(int64(targets[i]))
		}
		p.alloc = newLayerAllocator(targets)
		p.ratesView.Store(&p.rates)
	}
	var onBWE func(cc.BandwidthEstimator)
	if cfg.PublisherBWE && cfg.Video {
		onBWE = p.onEstimator
	}
	api, err := p.b.env.publisherAPI(p.b.spec, p.b.link, onBWE)
	if err != nil {
		return err
	}
	pc, err := api.NewPeerConnection(p.b.pcConfig())
	if err != nil {
		return err
	}
	p.b.watchICE(pc)
	p.mu.Lock()
	p.pc = pc
	p.mu.Unlock()
	pc.OnConnectionStateChange(p.b.pcStateChange)

	stream := p.b.spec.id
	if cfg.Audio {
		p.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: opusClockRate, Channels: 2}, "audio", stream)
		if err != nil {
			return err
		}
		tr, err := pc.AddTransceiverFromTrack(p.audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		p.audioSender = tr.Sender()
	}
	if cfg.Video {
		codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: vp8ClockRate}
		for _, l := range p.layers {
			var opts []func(*webrtc.TrackLocalStaticRTP)
			if l.RID != "" {
				opts = append(opts, webrtc.WithRTPStreamID(l.RID))
			}
			t, err := webrtc.NewTrackLocalStaticRTP(codec, "video", stream, opts...)
			if err != nil {
				return err
			}
			p.video = append(p.video, t)
		}
		tr, err := pc.AddTransceiverFromTrack(p.video[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		p.videoSender = tr.Sender()
		for _, t := range p.video[1:] {
			if err := p.videoSender.AddEncoding(t); err != nil {
				return fmt.Errorf("add simulcast encoding %s: %w", t.RID(), err)
			}
		}
		p.keyReq = make([]atomic.Bool, len(p.layers))
	}

	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := setLocalGathered(pc, offer); err != nil {
		return err
	}
	return p.b.sig.send(signal.Message{Type: signal.TypeOffer, Target: signal.TargetPublisher, SDP: pc.LocalDescription().SDP})
}

// onAnswer applies the server's answer and learns the negotiated
// header-extension IDs the send loops stamp.
func (p *publisher) onAnswer(sdpText string) error {
	p.mu.Lock()
	pc := p.pc
	p.mu.Unlock()
	if pc == nil {
		return fmt.Errorf("answer before offer")
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdpText}); err != nil {
		return err
	}
	for _, tr := range pc.GetTransceivers() {
		switch tr.Sender() {
		case p.audioSender:
			if p.audioSender != nil {
				p.audioMid = []byte(tr.Mid())
				p.audioIDs = idsOf(p.audioSender.GetParameters().HeaderExtensions)
			}
		case p.videoSender:
			if p.videoSender != nil {
				p.videoMid = []byte(tr.Mid())
				p.videoIDs = idsOf(p.videoSender.GetParameters().HeaderExtensions)
			}
		}
	}
	p.cands.ready(pc)
	// The send loops start on this event and on "connected", whichever
	// comes last: ICE may connect before the IDs above are known.
	p.b.emit(botEvent{kind: "answered"})
	return nil
}

// onEstimator takes the publisher's send-side bandwidth estimator (GCC on
// the SFU's TWCC feedback) when its PeerConnection is built.
func (p *publisher) onEstimator(est cc.BandwidthEstimator) {
	p.onEstimate(est.GetTargetBitrate())
	est.OnTargetBitrateChange(p.onEstimate)
}

// onEstimate re-splits the estimate over the layers; the send loops pick
// the rates up with their next frame.
func (p *publisher) onEstimate(bps int) {
	p.allocMu.Lock()
	before := p.alloc.active
	p.allocTo = p.alloc.decide(bps, p.allocTo)
	if p.alloc.active != before {
		p.b.env.log.Debug("publisher layers", "participant", p.b.spec.id, "estimate_bps", bps, "layers", p.alloc.active)
	}
	for i, r := range p.allocTo {
		p.rates[i].Store(int64(r))
	}
	p.allocMu.Unlock()
}

func idsOf(exts []webrtc.RTPHeaderExtensionParameter) extIDs {
	var ids extIDs
	for _, e := range exts {
		switch e.URI {
		case sdp.SDESMidURI:
			ids.mid = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ids.rid = uint8(e.ID)
		case absCaptureTimeURI:
			ids.absCapture = uint8(e.ID)
		}
	}
	return ids
}

func (p *publisher) addCandidate(c webrtc.ICECandidateInit) { p.cands.add(c) }

// readRTCP drains RTCP for one encoding; a PLI or FIR asks the layer's
// send loop for a keyframe.
//
// Readers start only once ICE and DTLS are up and close stops them (by
// read deadline) before closing the PeerConnection: Pion v3.3.6's
// ReadSimulcast reads each encoding's track without the sender's lock
// while Stop clears it, a data race if a reader is still around. A reader
// started before DTLS would block where only Stop can wake it.
func (p *publisher) readRTCP(s *webrtc.RTPSender, rid string, layer int) {
	p.rtcpWG.Add(1)
	go func() {
		defer p.rtcpWG.Done()
		for {
			var pkts []rtcp.Packet
			var err error
			if rid == "" {
				pkts, _, err = s.ReadRTCP()
			} else {
				pkts, _, err = s.ReadSimulcastRTCP(rid)
			}
			if err != nil {
				if p.stopped() || !isTimeout(err) {
					return
				}
				continue
			}
			if layer < 0 {
				continue
			}
			for _, pkt := range pkts {
				switch pkt.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					p.keyReq[layer].Store(true)
				}
			}
		}
	}()
}

// startSending starts the media loops once; called when ICE connects.
func (p *publisher) startSending() {
	p.sendOnce.Do(func() {
		if p.audioSender != nil {
			p.readRTCP(p.audioSender, "", -1)
		}
		for i, l := range p.layers {
			p.readRTCP(p.videoSender, l.RID, i)
		}
		p.reading.Store(true)
		seed := uint32(time.Now().UnixNano())
		if p.audio != nil {
			p.wg.Add(1)
			go p.sendAudio(newOpusStream(seed))
		}
		for i := range p.video {
			p.wg.Add(1)
			go p.sendVideo(i, newVP8Stream(p.layers[i], seed+uint32(i)*7919))
		}
	})
}

func (p *publisher) sendAudio(s *opusStream) {
	defer p.wg.Done()
	t := time.NewTicker(opusFrame)
	defer t.Stop()
	write := p.audio.WriteRTP
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			if err := s.writePacket(p.audioIDs, p.audioMid, write); err != nil && p.stopped() {
				return
			}
		}
	}
}

func (p *publisher) sendVideo(i int, s *vp8Stream) {
	defer p.wg.Done()
	cfg := p.b.env.cfg
	t := time.NewTicker(time.Second / time.Duration(s.layer.FPS))
	defer t.Stop()
	rid := []byte(s.layer.RID)
	track := p.video[i]
	write := func(pkt *rtp.Packet) error { return track.WriteRTP(pkt) }
	var lastKey time.Time
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			if s.rate = int(p.rates[i].Load()); s.rate == 0 {
				// The uplink cannot carry this layer: not sent, and it
				// restarts with a keyframe, as an encoder does.
				lastKey = time.Time{}
				p.keyReq[i].Store(false)
				continue
			}
			key := lastKey.IsZero() || p.keyReq[i].Swap(false) ||
				(cfg.KeyframeInterval > 0 && now.Sub(lastKey) >= cfg.KeyframeInterval)
			if key {
				lastKey = now
			}
			if err := s.writeFrame(key, p.videoIDs, p.videoMid, rid, write); err != nil && p.stopped() {
				return
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (p *publisher) stopped() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

func (p *publisher) close() {
	p.stopOnce.Do(func() {
		close(p.stop)
		// sendOnce orders this after startSending finished or never ran.
		p.sendOnce.Do(func() {})
		if p.reading.Load() {
			past := time.Now().Add(-time.Second)
			if p.audioSender != nil {
				_ = p.audioSender.SetReadDeadline(past)
			}
			for _, l := range p.layers {
				if l.RID == "" {
					_ = p.videoSender.SetReadDeadline(past)
				} else {
					_ = p.videoSender.SetReadDeadlineSimulcast(past, l.RID)
				}
			}
			p.rtcpWG.Wait()
		}
		p.mu.Lock()
		pc := p.pc
		p.mu.Unlock()
		if pc != nil {
			_ = pc.Close()
		}
		p.wg.Wait()
	})
}
