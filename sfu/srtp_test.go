package sfu

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/pion/dtls/v2"
	"github.com/pion/dtls/v2/pkg/crypto/selfsign"
	"github.com/pion/transport/v2/dpipe"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/sfu/signal"
)

// The SFU, as DTLS server, picks the SRTP profile by its own preference
// (third_party/pion-dtls-v2): GCM whenever the client offers it, whatever
// the client's order, and AES-CM for a client that offers nothing else.
func TestDTLSServerChoosesSRTPProfile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offered []dtls.SRTPProtectionProfile
		want    dtls.SRTPProtectionProfile // 0: the handshake fails
	}{
		{"chromium", []dtls.SRTPProtectionProfile{dtls.SRTP_AES128_CM_HMAC_SHA1_80, dtls.SRTP_AEAD_AES_256_GCM, dtls.SRTP_AEAD_AES_128_GCM}, dtls.SRTP_AEAD_AES_128_GCM},
		{"pion_default", []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_256_GCM, dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80}, dtls.SRTP_AEAD_AES_128_GCM},
		{"gcm_only", []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM}, dtls.SRTP_AEAD_AES_128_GCM},
		{"aes_cm_only", []dtls.SRTPProtectionProfile{dtls.SRTP_AES128_CM_HMAC_SHA1_80}, dtls.SRTP_AES128_CM_HMAC_SHA1_80},
		{"nothing_in_common", []dtls.SRTPProtectionProfile{dtls.SRTP_AES128_CM_HMAC_SHA1_32}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := handshakeSRTP(t, tc.offered, srtpProfiles)
			switch {
			case tc.want == 0 && err == nil:
				t.Fatalf("handshake succeeded with profile %#04x, want it to fail", got)
			case tc.want != 0 && err != nil:
				t.Fatalf("handshake: %v", err)
			case got != tc.want:
				t.Fatalf("server chose %#04x, want %#04x", got, tc.want)
			}
		})
	}
}

// handshakeSRTP runs a DTLS handshake over an in-memory pipe and returns
// the profile the server chose.
func handshakeSRTP(t *testing.T, client, server []dtls.SRTPProtectionProfile) (dtls.SRTPProtectionProfile, error) {
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	ca, cb := dpipe.Pipe()
	type result struct {
		c   *dtls.Conn
		err error
	}
	srv := make(chan result, 1)
	go func() {
		c, err := dtls.Server(cb, &dtls.Config{Certificates: []tls.Certificate{cert}, SRTPProtectionProfiles: server})
		srv <- result{c, err}
	}()
	cc, cerr := dtls.Client(ca, &dtls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, SRTPProtectionProfiles: client})
	if cerr != nil {
		_ = ca.Close() // unblocks the server
	}
	r := <-srv
	if r.err != nil {
		_ = ca.Close()
		_ = cb.Close()
		return 0, r.err
	}
	defer r.c.Close()
	if cerr != nil {
		return 0, cerr
	}
	defer cc.Close()
	chosen, _ := r.c.SelectedSRTPProtectionProfile()
	if theirs, _ := cc.SelectedSRTPProtectionProfile(); theirs != chosen {
		t.Fatalf("client uses %#04x, server %#04x", theirs, chosen)
	}
	return chosen, nil
}

// A peer that offers only AES-CM (an older browser, a minimal client)
// publishes and subscribes as before; the SFU answers the publisher as
// DTLS server (a=setup:passive), so its own preference decides.
func TestAESCMOnlyPeersExchangeMedia(t *testing.T) {
	s := startServer(t, nil)
	const room = "aes-cm"
	cmOnly := func(se *webrtc.SettingEngine) {
		se.SetSRTPProtectionProfiles(dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	}
	joinCM := func(identity string) *testClient {
		c := dialAPI(t, s, devToken(t, room, identity), clientAPIWith(t, cmOnly))
		c.joined = c.waitFor(signal.TypeJoined, 10*time.Second)
		c.id = c.joined.ParticipantID
		return c
	}
	pub, sub := joinCM("publisher"), joinCM("subscriber")
	_, video, _ := pub.publish()
	answer := pub.waitFor(signal.TypeAnswer, 10*time.Second)
	if !strings.Contains(answer.SDP, "a=setup:passive") {
		t.Errorf("publisher answer does not make the SFU the DTLS server (a=setup:passive):\n%s", answer.SDP)
	}
	vp := startPump(video, 10*time.Millisecond, 1000, 3000)
	defer vp.halt()
	eventually(t, 15*time.Second, "the subscriber to receive video", func() bool {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		for _, tr := range sub.tracks {
			if tr.track.Kind() == webrtc.RTPCodecTypeVideo && len(tr.snapshot()) > 50 {
				return true
			}
		}
		return false
	})
}

// TestSubscriberGetsSenderReports: on the fast path the SFU seals its
// sender reports itself; a Pion subscriber, in either SRTP profile, reads
// them on the track they describe, once a second, with counts and an RTP
// time that match what it received.
func TestSubscriberGetsSenderReports(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile dtls.SRTPProtectionProfile
	}{{"gcm", dtls.SRTP_AEAD_AES_128_GCM}, {"aes-cm", dtls.SRTP_AES128_CM_HMAC_SHA1_80}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, nil)
			room := "sr-" + tc.name
			api := clientAPIWith(t, func(se *webrtc.SettingEngine) { se.SetSRTPProtectionProfiles(tc.profile) })
			joinAs := func(identity string) *testClient {
				c := dialAPI(t, s, devToken(t, room, identity), api)
				c.joined = c.waitFor(signal.TypeJoined, 10*time.Second)
				c.id = c.joined.ParticipantID
				return c
			}
			pub, sub := joinAs("publisher"), joinAs("subscriber")
			_, video, _ := pub.publish()
			pub.waitFor(signal.TypeAnswer, 10*time.Second)
			vp := startPump(video, 10*time.Millisecond, 1000, 3000)
			defer vp.halt()
			var vt *recvTrack
			eventually(t, 15*time.Second, "two sender reports for the video track", func() bool {
				sub.mu.Lock()
				defer sub.mu.Unlock()
				for _, tr := range sub.tracks {
					if tr.track.Kind() == webrtc.RTPCodecTypeVideo && len(tr.senderReports()) >= 2 {
						vt = tr
						return true
					}
				}
				return false
			})
			srs, pkts := vt.senderReports(), vt.snapshot()
			last := srs[len(srs)-1]
			if last.SSRC != uint32(vt.track.SSRC()) {
				t.Errorf("sender report for SSRC %d on track %d", last.SSRC, vt.track.SSRC())
			}
			if last.NTPTime <= srs[0].NTPTime {
				t.Errorf("NTP time did not advance: %x then %x", srs[0].NTPTime, last.NTPTime)
			}
			if last.PacketCount == 0 || int(last.PacketCount) > len(pkts) {
				t.Errorf("report counts %d packets; %d received by now", last.PacketCount, len(pkts))
			}
			// The report's RTP time is the stream's clock now: within a
			// second (90 000 ticks) of the newest packet's timestamp.
			if d := int32(last.RTPTime - pkts[len(pkts)-1].Timestamp); d < -90000 || d > 90000 {
				t.Errorf("report RTP time %d is %d ticks from the newest packet's %d", last.RTPTime, d, pkts[len(pkts)-1].Timestamp)
			}
			for _, p := range s.Snapshot()[0].Participants {
				if p.Identity == "subscriber" && (p.SendPath != "fast" || p.RTCPSent < 2) {
					t.Errorf("subscriber: send path %q, %d SRTCP packets sent by the SFU; want fast and at least 2", p.SendPath, p.RTCPSent)
				}
			}
		})
	}
}
