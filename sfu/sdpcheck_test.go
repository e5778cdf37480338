package sfu

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/sfu/signal"
)

func readSDP(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sdp", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCheckRemoteSDP(t *testing.T) {
	sim := readSDP(t, "chromium_offer_simulcast.sdp")
	simLines := "a=rid:q send\r\na=rid:h send\r\na=rid:f send\r\na=simulcast:send q;h;f\r\n"
	with := func(lines string) string { return strings.Replace(sim, simLines, lines, 1) }
	tests := []struct {
		name, sdp, wantErr string // wantErr "" = accepted
	}{
		{"Chromium simulcast offer", sim, ""},
		{"Chromium audio and video offer", readSDP(t, "chromium_offer_av.sdp"), ""},
		{"Chromium subscriber answer", readSDP(t, "chromium_answer_subscriber.sdp"), ""},
		{"paused layer", with("a=rid:q send\r\na=rid:h send\r\na=simulcast:send q;~h\r\n"), ""},
		{"alternatives and rid params", with("a=rid:q send pt=96;max-width=320\r\na=rid:h send\r\na=simulcast:send q,h\r\n"), ""},
		{"send and recv", with("a=rid:q send\r\na=rid:h recv\r\na=simulcast:send q recv h\r\n"), ""},
		{"issue 15: empty stream", with("a=rid:q send\r\na=rid:h send\r\na=simulcast:send q;;h\r\n"), "empty stream"},
		{"trailing separator", with("a=rid:q send\r\na=simulcast:send q;\r\n"), "empty stream"},
		{"leading separator", with("a=rid:q send\r\na=simulcast:send ;q\r\n"), "empty stream"},
		{"direction only", with("a=rid:q send\r\na=simulcast:send \r\n"), "empty stream"},
		{"no list", with("a=rid:q send\r\na=simulcast:send\r\n"), "one space apart"},
		{"bare tilde", with("a=rid:q send\r\na=simulcast:send ~\r\n"), "rid id"},
		{"undeclared rid", with("a=rid:q send\r\na=simulcast:send q;x\r\n"), "no a=rid"},
		{"bad direction", with("a=rid:q sideways\r\n"), "direction"},
		{"rid without direction", with("a=rid:q\r\n"), "want"},
		{"empty rid", with("a=rid: send\r\n"), "rid id"},
		{"rid with odd characters", with("a=rid:q! send\r\n"), "only letters"},
		{"long rid", with("a=rid:" + strings.Repeat("q", 17) + " send\r\n"), "1 to 16"},
		{"duplicate rid", with("a=rid:q send\r\na=rid:q send\r\n"), "twice"},
		{"two simulcast lines", with("a=rid:q send\r\na=simulcast:send q\r\na=simulcast:send q\r\n"), "at most one"},
		{"too many rids", with(strings.Repeat("a=rid:x send\r\n", 1)[:0] + func() string {
			var b strings.Builder
			for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"} {
				b.WriteString("a=rid:" + id + " send\r\n")
			}
			return b.String()
		}()), "more than 8"},
		{"too many media sections", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" + strings.Repeat("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:x\r\n", maxSDPMediaSections+1), "media sections"},
		{"huge attribute", with("a=x-pad:" + strings.Repeat("x", maxSDPAttributeBytes+1) + "\r\n"), "bytes"},
		{"many candidates", with(strings.Repeat("a=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\n", maxCandidateLines+1)), "candidate"},
		{"no mid", strings.Replace(sim, "a=mid:1\r\n", "", 1), "a=mid"},
		{"not SDP", "hello", "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkRemoteSDP(tt.sdp)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *signal.Error
			if !errors.As(err, &pe) || pe.Code != signal.CodeInvalidSDP || !strings.Contains(pe.Reason, tt.wantErr) {
				t.Fatalf("err = %v, want invalid_sdp mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// fuzzEngine is the server's own WebRTC engine on a loopback socket.
func fuzzEngine(tb testing.TB) *rtcEngine {
	tb.Helper()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := DefaultConfig()
	logs := pionLoggerFactory{log: slog.New(slog.NewTextHandler(io.Discard, nil)), min: slog.LevelWarn}
	e, err := newRTCEngine(cfg.RTC, udp, logs, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.mux.Close() })
	return e
}

// FuzzRemoteSDP feeds mutated browser offers and answers through the path
// the server takes with a peer's SDP: checkRemoteSDP, then Pion on a fresh
// publish connection (offers) or on a subscribe connection with an offer in
// flight (answers). Whatever the bytes, the outcome is an answer or an
// invalid_sdp error; a panic that safely had to recover is a finding, since
// it means the checks let through something Pion cannot parse.
func FuzzRemoteSDP(f *testing.F) {
	for _, name := range []string{"chromium_offer_simulcast.sdp", "chromium_offer_av.sdp"} {
		f.Add(readSDP(f, name), false)
	}
	f.Add(readSDP(f, "chromium_answer_subscriber.sdp"), true)
	f.Add(strings.Replace(readSDP(f, "chromium_offer_simulcast.sdp"), "a=simulcast:send q;h;f", "a=simulcast:send q;;h", 1), false)
	e := fuzzEngine(f)
	f.Fuzz(func(t *testing.T, text string, answer bool) {
		if len(text) > signal.MaxMessageBytes {
			return
		}
		var err error
		if answer {
			err = fuzzAnswer(t, e, text)
		} else {
			err = fuzzOffer(t, e, text)
		}
		if errors.Is(err, errPionPanic) {
			t.Fatalf("Pion panicked on SDP the checks accepted: %v\n%q", err, text)
		}
		var pe *signal.Error
		if err != nil && (!errors.As(err, &pe) || pe.Code != signal.CodeInvalidSDP) {
			t.Fatalf("error without the invalid_sdp code: %v", err)
		}
	})
}

func fuzzOffer(t *testing.T, e *rtcEngine, text string) error {
	if _, err := checkRemoteSDP(text); err != nil {
		return err
	}
	pc, err := e.publish.NewPeerConnection(webrtc.Configuration{SDPSemantics: webrtc.SDPSemanticsUnifiedPlan})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	_, err = answerOffer(pc, text)
	return err
}

func fuzzAnswer(t *testing.T, e *rtcEngine, text string) error {
	pc, err := e.subscribe.NewPeerConnection(webrtc.Configuration{SDPSemantics: webrtc.SDPSemanticsUnifiedPlan})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSDP(text, mediaCount(pc.LocalDescription())); err != nil {
		return err
	}
	err = safely(func() error {
		return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: text})
	})
	if err != nil && !errors.Is(err, errPionPanic) {
		return signal.Errorf(signal.CodeInvalidSDP, "answer rejected: %v", err)
	}
	return err
}

// The seeds are realistic: the server answers the browser offers and takes
// the browser answer, so the fuzzer starts from inputs that get deep into Pion.
func TestBrowserSDPSeedsAreAccepted(t *testing.T) {
	e := fuzzEngine(t)
	for _, name := range []string{"chromium_offer_simulcast.sdp", "chromium_offer_av.sdp"} {
		if err := fuzzOffer(t, e, readSDP(t, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := fuzzAnswer(t, e, readSDP(t, "chromium_answer_subscriber.sdp")); err != nil {
		t.Errorf("answer: %v", err)
	}
}
