package sfu

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/simulcast"
)

// The benchmarks here drive the SFU's own packet path without a network:
// Receiver.forward → DownTrack.writeRTP → Forwarder → header rewrite → a
// bound TrackLocalWriter that discards. What they leave out (SRTP, the
// interceptors, the UDP send) is measured in srtp_bench_test.go or is
// Pion's; what they keep is everything Surge adds per packet and per
// subscriber, which must not allocate.

// discardWriter stands in for Pion's SRTP write stream: it counts and drops.
type discardWriter struct{ packets, bytes int }

func (w *discardWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	n := h.MarshalSize() + len(payload)
	w.packets++
	w.bytes += n
	return n, nil
}

func (w *discardWriter) Write(b []byte) (int, error) {
	w.packets++
	w.bytes += len(b)
	return len(b), nil
}

// fakeTrackContext is what Pion hands DownTrack.Bind once a subscriber's
// answer is applied: the negotiated codec, extensions, SSRC and the stream.
type fakeTrackContext struct {
	ssrc   webrtc.SSRC
	writer webrtc.TrackLocalWriter
}

const benchAbsID = 3 // the subscriber's abs-capture-time extension id

func (c *fakeTrackContext) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96},
	}
}

func (c *fakeTrackContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter {
	return []webrtc.RTPHeaderExtensionParameter{{URI: uriAbsCaptureTime, ID: benchAbsID}}
}

func (c *fakeTrackContext) SSRC() webrtc.SSRC                    { return c.ssrc }
func (c *fakeTrackContext) WriteStream() webrtc.TrackLocalWriter { return c.writer }
func (c *fakeTrackContext) ID() string                           { return "bench" }
func (c *fakeTrackContext) RTCPReader() interceptor.RTCPReader   { return nil }

// fanout is one published VP8 track with n bound subscribers, wired the way
// Participant.onTrack and Participant.subscribe wire them, minus Pion.
type fanout struct {
	r       *Receiver
	ul      *upLayer
	downs   []*DownTrack
	writers []*discardWriter
	m       *metrics.SFU

	raw []byte // the next upstream packet, rewritten in place by next
	pkt rtp.Packet
	seq uint16
	ts  uint32
	pid uint16
	hdr int // header length of raw
}

const (
	benchPacketSize    = 1100
	benchPacketsPerFrm = 4
	pubAbsID           = 5 // the publisher's abs-capture-time extension id
)

func newFanout(tb testing.TB, n int) *fanout { return buildFanout(tb, n, nil) }

// buildFanout is newFanout; with a wire, subscribers take the fast path
// instead (sealed into batches, sent on the wire's socket) and the
// Receiver's read loop has wire.workers fan-out workers.
func buildFanout(tb testing.TB, n int, w *benchWire) *fanout {
	tb.Helper()
	cfg := DefaultConfig()
	m := metrics.NewSFU(nil) // live collectors, so their atomics are in the cost
	srv := &Server{cfg: cfg, m: m, log: slog.New(slog.DiscardHandler)}
	if w != nil {
		srv.sock = w.sock
	}
	pub := &Participant{id: "PA_pub", srv: srv, log: srv.log}
	r := &Receiver{
		id: "TR_bench", pub: pub, kind: webrtc.RTPCodecTypeVideo, mk: metrics.KindVideo,
		codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		absID: pubAbsID, payloads: simulcast.VP8{}, m: m, cfg: cfg.Forward,
	}
	empty := []*DownTrack{}
	r.downs.Store(&empty)
	ul := &upLayer{ssrc: 0xabcd, cache: newPacketCache(cfg.Forward.PacketCacheSize)}
	r.layers[0] = ul
	r.live = 1
	if w != nil {
		ul.fan = fanoutWorkers{n: w.workers, threshold: 1, newBatch: srv.batch}
		tb.Cleanup(ul.fan.stop) // the read loop's defer
	}

	f := &fanout{r: r, ul: ul, m: m, seq: 1000, ts: 90000, pid: 100}
	now := time.Now()
	for i := 0; i < n; i++ {
		sub := &Participant{id: fmt.Sprintf("PA_sub%d", i), srv: srv, log: srv.log}
		if w != nil {
			sub.dl = w.downlink(tb, srv)
		}
		d := newDownTrack(r, sub)
		w := &discardWriter{}
		if _, err := d.Bind(&fakeTrackContext{ssrc: webrtc.SSRC(0x10000 + i), writer: w}); err != nil {
			tb.Fatal(err)
		}
		// The controller would pick the layer on its first tick.
		d.setTarget(0, false, now)
		r.addDown(d)
		f.downs = append(f.downs, d)
		f.writers = append(f.writers, w)
	}

	// The first packet is a keyframe: every forwarder starts on it.
	f.build(true)
	f.forward()
	f.checkForwarded(tb, 1)
	f.build(false)
	return f
}

// build marshals the packet template once: a VP8 frame with a real payload
// descriptor (15-bit picture ID) and the abs-capture-time extension that
// browsers send and the SFU copies to each subscriber.
func (f *fanout) build(keyframe bool) {
	i := uint32(f.pid)
	if !keyframe {
		i = 1 // payloadFor makes a keyframe of every tenth index
	}
	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: f.ul.ssrc, SequenceNumber: f.seq, Timestamp: f.ts, Marker: true}
	abs := make([]byte, 8)
	binary.BigEndian.PutUint64(abs, 0x0102030405060708)
	if err := h.SetExtension(pubAbsID, abs); err != nil {
		panic(err)
	}
	payload := payloadFor(i, benchPacketSize-h.MarshalSize(), true)
	p := rtp.Packet{Header: h, Payload: payload}
	raw, err := p.Marshal()
	if err != nil {
		panic(err)
	}
	f.raw, f.hdr = raw, h.MarshalSize()
	f.setPID()
}

func (f *fanout) setPID() {
	f.raw[f.hdr+2] = 0x80 | byte(f.pid>>8)&0x7f
	f.raw[f.hdr+3] = byte(f.pid)
}

// forward hands the current packet to the Receiver, as its read loop does.
func (f *fanout) forward() { f.r.forward(0, f.ul, f.raw, &f.pkt, time.Now()) }

// next moves raw to the following packet of the stream: a new sequence
// number, and every benchPacketsPerFrm packets a new frame (timestamp,
// picture ID, marker on its last packet).
func (f *fanout) next() {
	f.seq++
	if f.seq%benchPacketsPerFrm == 0 {
		f.ts += 3000
		f.pid = (f.pid + 1) & 0x7fff
		f.setPID()
	}
	binary.BigEndian.PutUint16(f.raw[2:], f.seq)
	binary.BigEndian.PutUint32(f.raw[4:], f.ts)
	if f.seq%benchPacketsPerFrm == benchPacketsPerFrm-1 {
		f.raw[1] |= 0x80
	} else {
		f.raw[1] &^= 0x80
	}
}

// checkForwarded fails unless every subscriber got want packets: a
// benchmark that silently measured drops would be meaningless.
func (f *fanout) checkForwarded(tb testing.TB, want int) {
	tb.Helper()
	if f.r.pub.srv.sock != nil {
		// On the fast path the writers see nothing: count what the
		// batches sent.
		sent := counterValue(f.m.PacketsOut(metrics.KindVideo))
		if fails := counterValue(f.m.Dropped(metrics.DropWriteError)); sent != float64(want*len(f.downs)) || fails != 0 {
			tb.Fatalf("sent %.0f packets (%.0f write errors), want %d (the benchmark measured the wrong path)", sent, fails, want*len(f.downs))
		}
		return
	}
	for i, w := range f.writers {
		if w.packets != want {
			tb.Fatalf("subscriber %d got %d packets, want %d (dropped: the benchmark measured the wrong path)", i, w.packets, want)
		}
	}
}

// BenchmarkForward is the per-packet cost of fanning one upstream VP8
// packet out to N subscribers. ns/sub is the marginal cost of a
// subscriber, the number that sets how many a core can serve.
func BenchmarkForward(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) { benchFanout(b, newFanout(b, n)) })
	}
}

// benchFanout forwards b.N packets through f and reports the cost per
// subscriber: ns/sub in wall time (what the last subscriber of a packet
// waits) and cpu-ns/sub in the process's CPU time (what a server pays; the
// two differ once workers share the fan-out).
func benchFanout(b *testing.B, f *fanout) {
	cpu, cpuErr := metrics.NewCPUSampler(time.Now())
	b.SetBytes(benchPacketSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.next()
		f.forward()
	}
	b.StopTimer()
	per := float64(b.N) * float64(len(f.downs))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/per, "ns/sub")
	if cpuErr == nil {
		b.ReportMetric(cpu.Sample(time.Now())*float64(b.Elapsed().Nanoseconds())/per, "cpu-ns/sub")
	}
	f.checkForwarded(b, b.N+1)
}

// BenchmarkRetransmit is the cost of answering one NACKed sequence number
// from the shared packet cache: look up, copy out, re-parse, rewrite as
// first sent, write.
func BenchmarkRetransmit(b *testing.B) {
	f := newFanout(b, 1)
	const sent = 512
	for i := 0; i < sent; i++ {
		f.next()
		f.forward()
	}
	d := f.downs[0]
	w := f.writers[0]
	first := f.seq - sent + 1 // the output keeps the input numbering on the first layer
	before := w.packets
	// A fixed clock: the cached packets stay younger than
	// forward.nack_max_age however long the benchmark runs.
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Each NACK stands for a fresh loss: refill the retransmission
		// budget and forget the packet's last resend, so every iteration
		// measures an answered NACK rather than the budget's refusal.
		seq := first + uint16(i%sent)
		d.rtx.tokens = rtxBurstBytes
		if d.rtx.marks != nil {
			d.rtx.marks[seq%rtxMarks] = rtxMark{}
		}
		bt := f.r.pub.srv.batch()
		d.retransmit(seq, now, bt)
		bt.flush()
		putBatch(bt)
	}
	b.StopTimer()
	if got := w.packets - before; got != b.N {
		b.Fatalf("answered %d of %d NACKs", got, b.N)
	}
}

// TestForwardDoesNotAllocate keeps the zero-allocation property of the
// packet path in the ordinary test run, not only when someone benchmarks.
func TestForwardDoesNotAllocate(t *testing.T) {
	f := newFanout(t, 10)
	for i := 0; i < 100; i++ { // past any first-use growth
		f.next()
		f.forward()
	}
	if a := testing.AllocsPerRun(200, func() { f.next(); f.forward() }); a != 0 {
		t.Fatalf("forwarding one packet to 10 subscribers allocates %.1f times", a)
	}
	f.checkForwarded(t, 1+100+201)
	d := f.downs[0]
	if a := testing.AllocsPerRun(200, func() {
		b := f.r.pub.srv.batch()
		d.retransmit(f.seq-10, time.Now(), b)
		b.flush()
		putBatch(b)
	}); a != 0 {
		t.Fatalf("answering a NACK allocates %.1f times", a)
	}
}
