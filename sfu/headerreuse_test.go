package sfu

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

const testTWCCExtID = 3

// publishChain builds the publish side's receive chain as rtcEngine does
// (surge) or as Pion's defaults would (NACK generator, receiver reports and
// Pion's TWCC recorder alone) over a reader that returns pkts in turn, and
// probe, outermost, sees what the interceptors saw.
func publishChain(t testing.TB, surge bool, pkts [][]byte, probe func(*rtp.Header)) interceptor.RTPReader {
	t.Helper()
	ir := &interceptor.Registry{}
	if surge {
		ir.Add(headerReuseFactory{})
	}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	ir.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	ir.Add(rr)
	if surge {
		ir.Add(twccFeedbackFactory{})
	} else {
		tw, err := twcc.NewSenderInterceptor()
		if err != nil {
			t.Fatal(err)
		}
		ir.Add(tw)
	}
	chain, err := ir.Build("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = chain.Close() })
	chain.BindRTCPWriter(interceptor.RTCPWriterFunc(func(p []rtcp.Packet, _ interceptor.Attributes) (int, error) { return len(p), nil }))
	info := &interceptor.StreamInfo{
		SSRC: 1234, ClockRate: 90000, MimeType: "video/VP8",
		RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: testTWCCExtID}},
		RTCPFeedback:        []interceptor.RTCPFeedback{{Type: "nack"}},
	}
	next := 0
	base := interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n := copy(b, pkts[next%len(pkts)])
		next++
		return n, a, nil
	})
	r := chain.BindRemoteStream(info, base)
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := r.Read(b, a)
		if err == nil && probe != nil {
			h, herr := attr.GetRTPHeader(b[:n])
			if herr != nil {
				t.Fatal(herr)
			}
			probe(h)
		}
		return n, attr, err
	})
}

func marshalTestPacket(t testing.TB, seq uint16, csrc []uint32, exts map[uint8][]byte) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 1234, CSRC: csrc}, Payload: []byte{0x10, 0, 0, 0x9d, 1, 0x2a}}
	for id, v := range exts {
		if err := p.Header.SetExtension(id, v); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Pion's interceptors must see each packet's own header, never the one
// before it, although headerReuse parses every packet into the same one.
func TestHeaderReuseGivesEachPacketItsOwnHeader(t *testing.T) {
	pkts := [][]byte{
		marshalTestPacket(t, 10, []uint32{7, 8}, map[uint8][]byte{testTWCCExtID: {0, 1}, 5: {9, 9, 9}}),
		marshalTestPacket(t, 11, nil, nil),
		marshalTestPacket(t, 12, []uint32{6}, map[uint8][]byte{testTWCCExtID: {0, 2}}),
		marshalTestPacket(t, 13, nil, map[uint8][]byte{5: {1}}),
	}
	var seen []rtp.Header
	r := publishChain(t, true, pkts, func(h *rtp.Header) { seen = append(seen, h.Clone()) })
	buf := make([]byte, 1500)
	for range 2 * len(pkts) {
		if _, _, err := r.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i, got := range seen {
		var want rtp.Header
		if _, err := want.Unmarshal(pkts[i%len(pkts)]); err != nil {
			t.Fatal(err)
		}
		if got.SequenceNumber != want.SequenceNumber || len(got.CSRC) != len(want.CSRC) || len(got.Extensions) != len(want.Extensions) || got.Extension != want.Extension {
			t.Fatalf("read %d: header %+v, want %+v", i, got, want)
		}
		for _, id := range []uint8{testTWCCExtID, 5} {
			if g, w := got.GetExtension(id), want.GetExtension(id); string(g) != string(w) {
				t.Fatalf("read %d: extension %d = %v, want %v", i, id, g, w)
			}
		}
	}
}

// The publish side's receive chain allocates nothing per packet; Pion's
// own makes a map, a header and its extension slice for every packet, and
// its TWCC recorder one more.
func TestPublishChainAllocatesNothingPerPacket(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own account")
	}
	var pkts [][]byte
	for i := range 64 {
		pkts = append(pkts, marshalTestPacket(t, uint16(100+i), nil, map[uint8][]byte{testTWCCExtID: {0, byte(i)}}))
	}
	buf := make([]byte, 1500)
	perRead := func(surge bool) float64 {
		r := publishChain(t, surge, pkts, nil)
		for range len(pkts) { // past the first packet's setup
			if _, _, err := r.Read(buf, nil); err != nil {
				t.Fatal(err)
			}
		}
		return testing.AllocsPerRun(4000, func() {
			if _, _, err := r.Read(buf, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
	without, with := perRead(false), perRead(true)
	t.Logf("allocations per packet: %.0f with Pion's chain, %.0f with Surge's", without, with)
	if with != 0 {
		t.Errorf("publish chain: %.0f allocations per packet, want 0", with)
	}
	if without < 3 {
		t.Errorf("Pion's chain: %.0f allocations per packet; this test no longer shows what Surge's saves", without)
	}
}
