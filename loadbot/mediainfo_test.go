package loadbot

import (
	"strings"
	"testing"

	"github.com/pion/sdp/v3"

	"github.com/surgertc/surge/loadbot/stats"
)

const offerAudioVideo = `v=0
o=- 1 2 IN IP4 0.0.0.0
s=-
t=0 0
a=group:BUNDLE 0 1
m=audio 9 UDP/TLS/RTP/SAVPF 111
c=IN IP4 0.0.0.0
a=mid:0
a=extmap:1 http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time
a=extmap:3 ` + sdp.TransportCCURI + `
a=rtpmap:111 opus/48000/2
a=ssrc:1111 cname:x
a=ssrc:1111 msid:PA_alice TR_audio
a=sendonly
m=video 9 UDP/TLS/RTP/SAVPF 96
c=IN IP4 0.0.0.0
a=mid:1
a=msid:PA_alice TR_video
a=extmap:1 http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time
a=extmap:3/sendonly ` + sdp.TransportCCURI + `
a=rtpmap:96 VP8/90000
a=ssrc:2222 cname:x
a=sendonly
`

func TestMediaInfoFromOffer(t *testing.T) {
	offer := strings.ReplaceAll(offerAudioVideo, "\n", "\r\n")
	mi := parseMediaInfo(offer, mediaInfo{})
	if mi.absID != 1 || mi.twccID != 3 {
		t.Fatalf("extension ids abs %d twcc %d, want 1 and 3", mi.absID, mi.twccID)
	}
	if mi.kinds[111] != stats.KindAudio || mi.kinds[96] != stats.KindVideo {
		t.Fatalf("kinds %v", mi.kinds)
	}
	// From the ssrc line's msid, and from the media section's msid.
	if mi.ids[1111] != "TR_audio" || mi.ids[2222] != "TR_video" {
		t.Fatalf("track ids %v", mi.ids)
	}
	// A renegotiation that drops the audio keeps what was known: its
	// packets may still be in flight.
	video := offer[:strings.Index(offer, "m=audio")] + offer[strings.Index(offer, "m=video"):]
	mi = parseMediaInfo(video, mi)
	if mi.ids[1111] != "TR_audio" || mi.kinds[111] != stats.KindAudio {
		t.Fatalf("after renegotiation: %v %v", mi.ids, mi.kinds)
	}
	// Garbage changes nothing.
	if got := parseMediaInfo("not sdp", mi); got.ids[2222] != "TR_video" {
		t.Fatalf("garbage offer lost the track ids: %v", got.ids)
	}
}
