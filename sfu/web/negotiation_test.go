package web_test

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/surgertc/surge/sfu"
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
		if tr.DTLSState != "connected" {
			t.Errorf("%s side: DTLS %q", side.name, tr.DTLSState)
		}
		// Chromium offers AES-CM first; the SFU, as DTLS server on both
		// sides, must still choose GCM (a fraction of AES-CM's cost).
		if tr.SRTPCipher != "SRTP_AEAD_AES_128_GCM" {
			t.Errorf("%s side: SRTP %q, want SRTP_AEAD_AES_128_GCM", side.name, tr.SRTPCipher)
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
	// The SFU seals its sender reports itself (srtpfast): Chromium must
	// have read some on every stream it has received for a while.
	for _, i := range ss.Subscriber.Inbound {
		if i.PacketsReceived > 100 && i.RemoteReportsSent == 0 {
			t.Errorf("subscriber's %s stream (%d packets): Chromium read no sender report", i.Kind, i.PacketsReceived)
		}
	}
	for _, o := range ps.Publisher.Outbound {
		if o.Kind == "video" && (o.Codec == nil || o.Codec.MimeType != "video/VP8") {
			t.Errorf("publisher video codec %+v, want VP8", o.Codec)
		}
	}
}

// dtlsHello is one DTLS ClientHello or ServerHello seen on the wire, with
// the SRTP protection profiles of its use_srtp extension, in order.
type dtlsHello struct {
	server   bool // a ServerHello (the profile chosen), else a ClientHello (those offered)
	src, dst netip.AddrPort
	profiles []uint16
}

// srtpAEAD128GCM is SRTP_AEAD_AES_128_GCM's protection profile id (RFC 7714).
const srtpAEAD128GCM = 0x0007

// sniffHellos starts capturing the DTLS hellos to and from the SFU's media
// port, or returns nil (and logs why) where that is impossible.
func sniffHellos(t *testing.T, s *sfu.Server) *helloSniffer {
	port := uint16(s.MediaAddr().(*net.UDPAddr).Port)
	sn, err := startHelloSniffer(port)
	if err != nil {
		t.Logf("not capturing DTLS hellos on lo (%v): the SRTP profiles offered go unchecked", err)
		return nil
	}
	t.Cleanup(sn.close)
	return sn
}

// candidatePort is the port of a getStats candidate summary such as
// "host udp 192.0.2.2:50022".
func candidatePort(desc string) uint16 {
	f := strings.Fields(desc)
	if len(f) == 0 {
		return 0
	}
	ap, err := netip.ParseAddrPort(f[len(f)-1])
	if err != nil {
		return 0
	}
	return ap.Port()
}

// checkHellos checks the handshakes of the DTLS clients on ports (each
// finished, so its hellos are on the wire): each offered want, in that
// order, when want is set, and the SFU chose AES-GCM for each. It returns
// the list the clients offered.
func checkHellos(t *testing.T, sn *helloSniffer, who string, ports []uint16, want []uint16) []uint16 {
	t.Helper()
	if len(ports) == 0 {
		t.Errorf("%s: no DTLS handshake captured", who)
		return nil
	}
	var offered []uint16
	seen := sn.waitHellos(5*time.Second, func(hs []dtlsHello) bool {
		for _, p := range ports {
			if !slices.ContainsFunc(hs, func(h dtlsHello) bool { return h.server && h.dst.Port() == p }) {
				return false
			}
		}
		return true
	})
	for _, p := range ports {
		var offers [][]uint16
		chosen := -1
		for _, h := range seen {
			switch {
			case !h.server && h.src.Port() == p:
				offers = append(offers, h.profiles)
			case h.server && h.dst.Port() == p && len(h.profiles) == 1:
				chosen = int(h.profiles[0])
			}
		}
		if len(offers) == 0 || chosen < 0 {
			t.Errorf("%s port %d: %d ClientHellos, ServerHello profile %#04x: handshake not captured", who, p, len(offers), chosen)
			continue
		}
		for _, o := range offers {
			if want != nil && !slices.Equal(o, want) {
				t.Errorf("%s port %d offered SRTP profiles %#04x, want %#04x (what Chromium offers)", who, p, o, want)
			}
		}
		if offered == nil {
			offered = offers[0]
			t.Logf("%s port %d offered SRTP profiles %#04x; the SFU chose %#04x", who, p, offered, chosen)
		}
		if chosen != srtpAEAD128GCM {
			t.Errorf("%s port %d: the SFU chose SRTP profile %#04x, want AEAD_AES_128_GCM (%#04x)", who, p, chosen, srtpAEAD128GCM)
		}
	}
	return offered
}

// clientPorts lists the source ports of the ClientHellos in hs.
func clientPorts(hs []dtlsHello) []uint16 {
	var ports []uint16
	for _, h := range hs {
		if !h.server && !slices.Contains(ports, h.src.Port()) {
			ports = append(ports, h.src.Port())
		}
	}
	return ports
}
