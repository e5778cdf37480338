package web_test

import (
	"fmt"
	"strings"
	"testing"
)

// sdpSection is the part of one m= section worth reporting.
type sdpSection struct {
	media, mid, direction string
	codecs, extmaps, rids []string
	simulcast             string
}

// parseSDP pulls codecs, header extensions and simulcast out of an SDP. It
// is a reporting aid, not a parser: it reads only the lines it names.
func parseSDP(sdp string) (fingerprint string, sections []sdpSection) {
	var cur *sdpSection
	for _, line := range strings.Split(sdp, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "m="):
			sections = append(sections, sdpSection{media: strings.Fields(line[2:])[0]})
			cur = &sections[len(sections)-1]
		case strings.HasPrefix(line, "a=fingerprint:"):
			fingerprint = strings.Fields(strings.TrimPrefix(line, "a=fingerprint:"))[0]
		case cur == nil:
		case strings.HasPrefix(line, "a=mid:"):
			cur.mid = strings.TrimPrefix(line, "a=mid:")
		case line == "a=sendonly" || line == "a=recvonly" || line == "a=sendrecv" || line == "a=inactive":
			cur.direction = line[2:]
		case strings.HasPrefix(line, "a=rtpmap:"):
			cur.codecs = append(cur.codecs, strings.TrimPrefix(line, "a=rtpmap:"))
		case strings.HasPrefix(line, "a=extmap:"):
			cur.extmaps = append(cur.extmaps, strings.TrimPrefix(line, "a=extmap:"))
		case strings.HasPrefix(line, "a=rid:"):
			cur.rids = append(cur.rids, strings.TrimPrefix(line, "a=rid:"))
		case strings.HasPrefix(line, "a=simulcast:"):
			cur.simulcast = strings.TrimPrefix(line, "a=simulcast:")
		}
	}
	return fingerprint, sections
}

func logSDP(t *testing.T, what, sdp string) {
	fp, sections := parseSDP(sdp)
	t.Logf("%s: fingerprint %s", what, fp)
	for _, s := range sections {
		t.Logf("  m=%s mid %s %s: codecs [%s]", s.media, s.mid, s.direction, strings.Join(s.codecs, ", "))
		if s.simulcast != "" {
			t.Logf("    simulcast %s; rids [%s]", s.simulcast, strings.Join(s.rids, ", "))
		}
		t.Logf("    extmap [%s]", strings.Join(s.extmaps, ", "))
	}
}

type pageSDP struct {
	Publisher struct {
		Local  string `json:"local"`
		Remote string `json:"remote"`
	} `json:"publisher"`
	Subscriber struct {
		Local  string `json:"local"`
		Remote string `json:"remote"`
	} `json:"subscriber"`
}

// logNegotiation records what Chromium and the SFU agreed on: the answers'
// codecs and header extensions (an answer lists only what both sides
// support), and from getStats the codecs in use and the DTLS/SRTP
// parameters. It also checks the few facts the SFU relies on.
func logNegotiation(t *testing.T, publisher, subscriber *page) {
	var pub, sub pageSDP
	publisher.mustEval(t, "window.surge.sdp()", &pub)
	subscriber.mustEval(t, "window.surge.sdp()", &sub)
	logSDP(t, "publish side, Chromium's offer", pub.Publisher.Local)
	logSDP(t, "publish side, SFU's answer", pub.Publisher.Remote)
	logSDP(t, "subscribe side, Chromium's answer", sub.Subscriber.Local)

	ps, ss := publisher.stats(t), subscriber.stats(t)
	for _, side := range []struct {
		name string
		st   *pcStats
	}{{"publish", ps.Publisher}, {"subscribe", ss.Subscriber}} {
		tr := side.st.Transport
		if tr == nil {
			t.Errorf("%s side: no transport stats", side.name)
			continue
		}
		t.Logf("%s side transport: DTLS %s %s, SRTP %s, ICE %s ⇄ %s", side.name, tr.TLSVersion, tr.DTLSCipher, tr.SRTPCipher, tr.Local, tr.Remote)
		if tr.SRTPCipher == "" || tr.DTLSState != "connected" {
			t.Errorf("%s side: DTLS %q, SRTP %q", side.name, tr.DTLSState, tr.SRTPCipher)
		}
	}
	codecs := map[string]bool{}
	for _, o := range ps.Publisher.Outbound {
		if o.Codec != nil {
			codecs[fmt.Sprintf("sent %s %s pt %d %s", o.Kind, o.Codec.MimeType, o.Codec.PayloadType, o.Codec.SDPFmtpLine)] = true
		}
	}
	for _, i := range ss.Subscriber.Inbound {
		if i.Codec != nil {
			codecs[fmt.Sprintf("received %s %s pt %d %s", i.Kind, i.Codec.MimeType, i.Codec.PayloadType, i.Codec.SDPFmtpLine)] = true
		}
	}
	for c := range codecs {
		t.Logf("codec in use: %s", c)
	}
	for _, o := range ps.Publisher.Outbound {
		if o.Kind == "video" && (o.Codec == nil || o.Codec.MimeType != "video/VP8") {
			t.Errorf("publisher video codec %+v, want VP8", o.Codec)
		}
	}
}
