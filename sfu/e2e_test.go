package sfu

import (
	"context"
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
	"go.uber.org/goleak"

	"github.com/surgertc/surge/sfu/signal"
)

// pump writes numbered packets on a publisher track until stopped. Payload
// bytes 0..3 carry the index so a subscriber can check every packet arrived
// intact and in order; the rest is a pattern derived from it.
type pump struct {
	track *webrtc.TrackLocalStaticRTP
	next  atomic.Uint32
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// idxOff is where a test payload carries its index: after a VP8 payload
// descriptor (4 bytes, 15-bit picture ID) and a 10-byte keyframe header.
const idxOff = 14

// payloadFor builds packet i: for video a one-packet VP8 frame whose picture
// ID is i, a keyframe every tenth packet (the SFU starts a subscriber on a
// keyframe); for audio plain bytes. The index and a pattern fill the rest.
func payloadFor(i uint32, size int, video bool) []byte {
	p := make([]byte, size)
	if video {
		p[0], p[1] = 0x90, 0x80 // X, S; I
		p[2], p[3] = 0x80|byte(i>>8)&0x7f, byte(i)
		if i%10 == 0 {
			copy(p[4:], []byte{0x10, 0, 0, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00}) // keyframe, 320x180
		} else {
			p[4] = 0x11 // interframe
		}
	}
	binary.BigEndian.PutUint32(p[idxOff:], i)
	for j := idxOff + 4; j < size; j++ {
		p[j] = byte(i) + byte(j)
	}
	return p
}

func indexOf(p rtp.Packet) uint32 { return binary.BigEndian.Uint32(p.Payload[idxOff:]) }

func startPump(track *webrtc.TrackLocalStaticRTP, every time.Duration, size int, tsStep uint32) *pump {
	video := track.Kind() == webrtc.RTPCodecTypeVideo
	p := &pump{track: track, stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				i := p.next.Add(1) - 1
				_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(1000 + i), Timestamp: 5000 + i*tsStep, Marker: true}, Payload: payloadFor(i, size, video)})
			}
		}
	}()
	return p
}

// halt stops the pump and waits for it; a second halt (a deferred one after
// the test stopped it) does nothing.
func (p *pump) halt() { p.once.Do(func() { close(p.stop) }); p.wg.Wait() }

// checkIntact asserts that from the first packet received, every packet up
// to index last arrived once, intact, with contiguous sequence numbers.
func checkIntact(t *testing.T, who string, pkts []rtp.Packet, size int, video bool, last uint32) {
	t.Helper()
	if len(pkts) == 0 {
		t.Fatalf("%s received nothing", who)
	}
	want := indexOf(pkts[0])
	for i, p := range pkts {
		idx := indexOf(p)
		if idx != want {
			t.Fatalf("%s: packet %d carries index %d, want %d (lost or reordered)", who, i, idx, want)
		}
		if string(p.Payload) != string(payloadFor(idx, size, video)) {
			t.Fatalf("%s: payload of packet %d corrupted", who, idx)
		}
		if i > 0 && p.SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("%s: sequence %d follows %d", who, p.SequenceNumber, pkts[i-1].SequenceNumber)
		}
		want++
		if idx == last {
			return
		}
	}
	t.Fatalf("%s: stopped at index %d before %d", who, want-1, last)
}

func TestForwardAudioVideoToSubscribers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := startServer(t, nil)
	const room = "e2e"
	pub := join(t, s, room, "publisher")
	subs := []*testClient{join(t, s, room, "sub-1"), join(t, s, room, "sub-2"), join(t, s, room, "sub-3")}

	audio, video, videoSender := pub.publish()
	ap := startPump(audio, 20*time.Millisecond, 80, 960)
	vp := startPump(video, 10*time.Millisecond, 1000, 3000)
	defer ap.halt()
	defer vp.halt()

	// Both tracks reach every subscriber, with the ids the server announced.
	var audioID, videoID string
	for _, c := range subs {
		eventually(t, 15*time.Second, "two subscribed tracks", func() bool { return c.trackCount() == 2 })
	}
	subs[0].mu.Lock()
	events := append([]signal.Message(nil), subs[0].events...)
	subs[0].mu.Unlock()
	for _, ev := range events {
		if ev.Type == signal.TypeTrackPublished {
			if ev.Track.Kind == "audio" {
				audioID = ev.Track.ID
			} else {
				videoID = ev.Track.ID
			}
		}
	}
	if audioID == "" || videoID == "" {
		t.Fatal("track_published events missing")
	}
	for _, c := range subs {
		if c.track(audioID) == nil || c.track(videoID) == nil {
			t.Fatal("subscriber's track ids differ from the published ones")
		}
		if c.track(videoID).track.StreamID() != pub.id {
			t.Fatalf("stream id %q, want the publisher's participant id %q", c.track(videoID).track.StreamID(), pub.id)
		}
	}

	// Every packet from here on arrives intact and contiguous.
	mark := vp.next.Load() + 5
	amark := ap.next.Load() + 5
	eventually(t, 10*time.Second, "300 more video packets", func() bool { return vp.next.Load() > mark+300 })
	lastV, lastA := vp.next.Load()-1, ap.next.Load()-1
	time.Sleep(300 * time.Millisecond)
	for i, c := range subs {
		v := c.track(videoID).snapshot()
		for len(v) > 0 && indexOf(v[0]) < mark {
			v = v[1:]
		}
		checkIntact(t, "video sub "+string(rune('1'+i)), v, 1000, true, lastV)
		a := c.track(audioID).snapshot()
		for len(a) > 0 && indexOf(a[0]) < amark {
			a = a[1:]
		}
		checkIntact(t, "audio sub "+string(rune('1'+i)), a, 80, false, lastA)
	}

	// The SFU keeps per-layer state of what it receives: the pump's keyframe
	// every tenth packet shows as recent.
	var sawVideo bool
	for _, p := range s.Snapshot()[0].Participants {
		// Pion clients on loopback UDP: every subscriber is on the fast
		// send path (own SRTP, batched sends), the path the media above
		// arrived intact on.
		if p.SendPath != "" && p.SendPath != "fast" {
			t.Errorf("participant %s sends on the %q path, want fast", p.Identity, p.SendPath)
		}

		for _, tr := range p.Published {
			if tr.ID != videoID {
				continue
			}
			sawVideo = true
			if l := tr.Layers[0]; !l.Live || l.Frames == 0 || l.LastKeyframeMsAgo < 0 || l.LastKeyframeMsAgo > 1000 {
				t.Fatalf("video layer state %+v: want live, frames counted, a keyframe within the last second", l)
			}
		}
	}
	if !sawVideo {
		t.Fatal("snapshot lacks the published video track")
	}

	// A subscriber's PLI reaches the publisher.
	gotPLI := make(chan struct{}, 1)
	go func() {
		for {
			pkts, _, err := videoSender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					select {
					case gotPLI <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	sub := subs[0]
	vt := sub.track(videoID)
	sub.mu.Lock()
	subPC := sub.sub
	sub.mu.Unlock()
	if err := subPC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(vt.track.SSRC())}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gotPLI:
	case <-time.After(5 * time.Second):
		t.Fatal("PLI from the subscriber never reached the publisher")
	}

	// A NACK is answered from the cache: the same sequence number arrives
	// again with the same payload.
	pkts := vt.snapshot()
	target := pkts[len(pkts)-20]
	before := len(pkts)
	if err := subPC.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: uint32(vt.track.SSRC()), Nacks: []rtcp.NackPair{{PacketID: target.SequenceNumber}}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the retransmission", func() bool {
		for _, p := range vt.snapshot()[before:] {
			if p.SequenceNumber == target.SequenceNumber && string(p.Payload) == string(target.Payload) {
				return true
			}
		}
		return false
	})
	// The PLI and the NACK were read by the SFU off the socket, not
	// through Pion: the fast path's RTCP.
	for _, p := range s.Snapshot()[0].Participants {
		if p.Identity == "sub-1" && p.RTCPRead < 2 {
			t.Errorf("sub-1's PLI and NACK: %d RTCP packets read on the fast path, want 2", p.RTCPRead)
		}
	}

	// The publisher leaves: the others see its tracks go, get a new offer,
	// and the server frees the publisher's goroutines.
	ap.halt()
	vp.halt()
	pub.send(signal.Message{Type: signal.TypeLeave})
	for _, c := range subs {
		c.waitFor(signal.TypeTrackUnpublished, 5*time.Second)
		c.waitFor(signal.TypeParticipantLeft, 5*time.Second)
	}
	eventually(t, 5*time.Second, "renegotiation without the publisher's tracks", func() bool {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		sd := sub.sub.CurrentRemoteDescription()
		return sd != nil && !strings.Contains(sd.SDP, "a=sendonly") && !strings.Contains(sd.SDP, "a=sendrecv")
	})
	pub.close()
	for _, c := range subs {
		c.close()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_ = context.Background()
}
