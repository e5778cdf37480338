package simulcast

import (
	"bytes"
	"math/rand"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// stream is one synthetic simulcast layer with its own numbering.
type stream struct {
	layer   int
	seq     uint16
	ts      uint32
	pid     uint16
	tl0     uint8
	wide    bool
	pkts    int
	keyNext bool
}

type inPkt struct {
	layer   int
	hdr     rtp.Header
	payload []byte
}

// frame emits one frame of s as packets.
func (s *stream) frame(rng *rand.Rand) []inPkt {
	key := s.keyNext || rng.Intn(120) == 0
	s.keyNext = false
	s.pid++
	if !s.wide {
		s.pid &= 0x7f
	}
	s.pid &= 0x7fff
	s.tl0++
	s.ts += 3000
	ps := make([]inPkt, s.pkts)
	for i := range ps {
		s.seq++
		ps[i] = inPkt{
			layer:   s.layer,
			hdr:     rtp.Header{SequenceNumber: s.seq, Timestamp: s.ts, Marker: i == s.pkts-1, SSRC: uint32(1000 + s.layer)},
			payload: vp8Packet(make([]byte, 0, 64), i == 0, key, s.wide, s.pid, s.tl0, 20+rng.Intn(30)),
		}
	}
	return ps
}

type paddingCut struct {
	in  uint16 // newest input seq before the padding
	off uint16 // the offset it and older packets keep
}

type record struct {
	layer int
	in    inPkt
	out   Output
}

// TestForwarderProperties drives a Forwarder with random switches, pauses,
// loss, duplication and reordering over three independent layer streams and
// checks that the output is one well-formed stream.
func TestForwarderProperties(t *testing.T) {
	for seed := int64(1); seed <= 30; seed++ {
		runForwarderProperty(t, seed, 2000)
	}
}

func runForwarderProperty(t *testing.T, seed int64, ticks int) {
	rng := rand.New(rand.NewSource(seed))
	cfg := DefaultConfig()
	f := NewForwarder(cfg, 90000, VP8{})
	streams := make([]*stream, NumLayers)
	for l := range streams {
		streams[l] = &stream{layer: l, seq: uint16(rng.Intn(65536)), ts: rng.Uint32(), pid: uint16(rng.Intn(0x8000)),
			tl0: uint8(rng.Intn(256)), wide: rng.Intn(3) != 0, pkts: 1 << l}
	}
	// Out sequence numbers near the wrap in some seeds.
	if seed%3 == 0 {
		streams[0].seq = 65530
	}
	f.SetTarget(rng.Intn(NumLayers), t0)

	recs := map[int64]record{}
	all := map[[2]int]inPkt{}
	var verdicts [NumVerdicts]int
	gapFills := 0
	var (
		maxExt    int64 = -1
		prev      record
		segOff    uint16
		segTSOff  uint32
		segLayer  = -1
		sawPaused = true
		switches  int
		forwarded int
		// Padding insertions in the current segment: input seqs up to in
		// keep the offset before it.
		cuts   []paddingCut
		pads   = map[int64]bool{}
		padded int
	)
	dst := make([]byte, 1500)
	var held []inPkt
	now := t0
	for tick := 0; tick < ticks; tick++ {
		now = now.Add(33 * time.Millisecond)
		if rng.Intn(25) == 0 {
			f.SetTarget(rng.Intn(NumLayers+1)-1, now)
			if rng.Intn(2) == 0 {
				f.Drain() // a switch down for congestion
			}
		}
		if l, ok := f.KeyframeRequest(now); ok {
			streams[l].keyNext = true
		}
		batch := held
		held = nil
		for _, s := range streams {
			for _, p := range s.frame(rng) {
				all[[2]int{p.layer, int(p.hdr.SequenceNumber)}] = p
				switch r := rng.Intn(100); {
				case r < 3: // lost
				case r < 5:
					held = append(held, p) // late by a frame
				case r < 6:
					batch = append(batch, p, p) // duplicated
				default:
					batch = append(batch, p)
				}
			}
		}
		for i := range batch {
			if j := i + 1 + rng.Intn(3); rng.Intn(10) == 0 && j < len(batch) {
				batch[i], batch[j] = batch[j], batch[i]
			}
		}
		for _, p := range batch {
			out, v := accept(f, p.layer, &p.hdr, p.payload, now, dst)
			verdicts[v]++
			if v != Forward {
				sawPaused = sawPaused || f.CurrentLayer() < 0
				continue
			}
			forwarded++
			out.Payload = append([]byte(nil), out.Payload...)
			ext := int64(out.SequenceNumber)
			if maxExt >= 0 {
				ext = maxExt + int64(int16(out.SequenceNumber-uint16(maxExt)))
			}
			if _, dup := recs[ext]; dup {
				t.Fatalf("seed %d tick %d: duplicate output seq %d", seed, tick, out.SequenceNumber)
			}
			rec := record{layer: p.layer, in: p, out: out}
			recs[ext] = rec
			od, err := ParseVP8(out.Payload)
			if err != nil || !od.PictureID15 {
				t.Fatalf("seed %d: output descriptor %+v %v", seed, od, err)
			}
			id, _ := ParseVP8(p.payload)
			if out.Switched {
				switches++
				if !od.Keyframe {
					t.Fatalf("seed %d tick %d: switch to %d on a non-keyframe", seed, tick, p.layer)
				}
				if maxExt >= 0 {
					pd, _ := ParseVP8(prev.out.Payload)
					switch {
					case ext != maxExt+1:
						t.Fatalf("seed %d tick %d: switch left a seq gap %d -> %d", seed, tick, maxExt, ext)
					case int32(out.Timestamp-prev.out.Timestamp) <= 0:
						t.Fatalf("seed %d tick %d: ts not forward across switch", seed, tick)
					case od.PictureID != (pd.PictureID+1)&0x7fff || od.TL0PICIDX != pd.TL0PICIDX+1:
						t.Fatalf("seed %d tick %d: picture id %d->%d tl0 %d->%d across switch", seed, tick,
							pd.PictureID, od.PictureID, pd.TL0PICIDX, od.TL0PICIDX)
					}
				}
				segOff, segTSOff, segLayer, sawPaused = out.SequenceNumber-p.hdr.SequenceNumber, out.Timestamp-p.hdr.Timestamp, p.layer, false
				cuts = cuts[:0]
			} else if sawPaused {
				t.Fatalf("seed %d tick %d: forwarded after pause without a switch", seed, tick)
			}
			wantOff := segOff
			for i := len(cuts) - 1; i >= 0 && int16(p.hdr.SequenceNumber-cuts[i].in) <= 0; i-- {
				wantOff = cuts[i].off
			}
			if p.layer != segLayer || out.SequenceNumber-p.hdr.SequenceNumber != wantOff || out.Timestamp-p.hdr.Timestamp != segTSOff {
				t.Fatalf("seed %d tick %d: packet not mapped by its segment's offsets", seed, tick)
			}
			if ext > maxExt {
				if maxExt >= 0 && !out.Switched {
					pd, _ := ParseVP8(prev.out.Payload)
					ipd, _ := ParseVP8(prev.in.payload)
					if int32(out.Timestamp-prev.out.Timestamp) < 0 {
						t.Fatalf("seed %d tick %d: timestamp went backwards", seed, tick)
					}
					var inDelta int
					if id.PictureID15 {
						inDelta = int(int16((id.PictureID-ipd.PictureID)<<1) >> 1)
					} else {
						inDelta = int(int8(uint8(id.PictureID-ipd.PictureID)<<1) >> 1)
					}
					if outDelta := int(int16((od.PictureID-pd.PictureID)<<1) >> 1); outDelta != inDelta {
						t.Fatalf("seed %d tick %d: picture id jumped by %d, input by %d", seed, tick, outDelta, inDelta)
					}
				}
				maxExt, prev = ext, rec
			}
			sawPaused = f.CurrentLayer() < 0
		}
		// Now and then a probe: padding after the newest packet, which
		// takes the next output seqs when the newest ended its frame.
		if k := 1 + rng.Intn(10); rng.Intn(6) == 0 {
			first, ts, ok := f.Padding(k)
			if ok != (maxExt >= 0 && prev.out.Marker && (f.CurrentLayer() < 0 || prev.layer == f.CurrentLayer())) && ok {
				t.Fatalf("seed %d tick %d: padding allowed after a packet that did not end its frame", seed, tick)
			}
			if ok {
				if first != uint16(maxExt+1) || ts != prev.out.Timestamp {
					t.Fatalf("seed %d tick %d: padding at %d ts %d, want %d ts %d", seed, tick, first, ts, uint16(maxExt+1), prev.out.Timestamp)
				}
				for i := 0; i < k; i++ {
					pads[maxExt+1+int64(i)] = true
				}
				cuts = append(cuts, paddingCut{in: prev.in.hdr.SequenceNumber, off: segOff})
				segOff += uint16(k)
				maxExt += int64(k)
				padded++
			}
		}
		// A NACK for a gap maps to the lost input packet, rewritten with its
		// neighbours' offsets; afterwards the late original is a duplicate.
		for ext := maxExt - 1; ext > maxExt-40 && ext > 0; ext-- {
			if _, ok := recs[ext]; ok {
				continue
			}
			l, inSeq, ok := f.Retransmission(uint16(ext))
			if ok && pads[ext] {
				t.Fatalf("seed %d: padding seq %d maps to media %d/%d", seed, uint16(ext), l, inSeq)
			}
			if !ok {
				continue
			}
			p, ok := all[[2]int{l, int(inSeq)}]
			if !ok {
				continue
			}
			out, ok := rewriteRetransmission(f, uint16(ext), &p.hdr, p.payload, dst)
			if !ok {
				t.Fatalf("seed %d: gap %d maps to %d/%d but does not rewrite", seed, uint16(ext), l, inSeq)
			}
			if nb, ok := recs[ext+1]; ok && nb.layer == l && out.SequenceNumber-p.hdr.SequenceNumber != nb.out.SequenceNumber-nb.in.hdr.SequenceNumber {
				t.Fatalf("seed %d: gap %d filled with a different offset than its neighbour", seed, uint16(ext))
			}
			out.Payload = append([]byte(nil), out.Payload...)
			recs[ext] = record{layer: l, in: p, out: out}
			gapFills++
		}
		// NACKs for a few recent output seqs get exactly the first rewrite.
		for k := 0; k < 3 && maxExt > 0; k++ {
			ext := maxExt - int64(rng.Intn(historySize))
			rec, ok := recs[ext]
			if !ok {
				continue
			}
			l, inSeq, ok := f.Retransmission(uint16(ext))
			if !ok || l != rec.layer || inSeq != rec.in.hdr.SequenceNumber {
				t.Fatalf("seed %d: Retransmission(%d) = %d %d %v, want %d %d", seed, uint16(ext), l, inSeq, ok, rec.layer, rec.in.hdr.SequenceNumber)
			}
			out, ok := rewriteRetransmission(f, uint16(ext), &rec.in.hdr, rec.in.payload, dst)
			if !ok || out.SequenceNumber != rec.out.SequenceNumber || out.Timestamp != rec.out.Timestamp ||
				out.Marker != rec.out.Marker || !bytes.Equal(out.Payload, rec.out.Payload) {
				t.Fatalf("seed %d: retransmission of %d differs from the original", seed, uint16(ext))
			}
		}
	}
	if verdicts[DropDuplicate] == 0 || verdicts[DropTooOld]+verdicts[DropWaitKeyframe] == 0 || gapFills == 0 {
		t.Fatalf("seed %d: verdicts %v, %d gap fills: some paths not exercised", seed, verdicts, gapFills)
	}
	if padded < ticks/20 {
		t.Fatalf("seed %d: only %d padding insertions", seed, padded)
	}
	if switches < 10 || forwarded < ticks {
		t.Fatalf("seed %d: only %d switches, %d packets forwarded: the test does not exercise much", seed, switches, forwarded)
	}
}

func TestForwarderSwitchWaitsForKeyframe(t *testing.T) {
	f := NewForwarder(DefaultConfig(), 90000, VP8{})
	dst := make([]byte, 1500)
	buf := make([]byte, 1500)
	send := func(layer int, seq uint16, key bool, now time.Time) (Output, Verdict) {
		h := rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true}
		return accept(f, layer, &h, vp8Packet(buf, true, key, true, seq, uint8(seq), 30), now, dst)
	}
	f.SetTarget(0, t0)
	if _, v := send(0, 10, false, t0); v != DropWaitKeyframe {
		t.Fatalf("delta frame before first keyframe: %v", v)
	}
	if l, ok := f.KeyframeRequest(t0); !ok || l != 0 {
		t.Fatal("no keyframe request while waiting")
	}
	if _, ok := f.KeyframeRequest(t0.Add(100 * time.Millisecond)); ok {
		t.Fatal("keyframe request not throttled")
	}
	if l, ok := f.KeyframeRequest(t0.Add(DefaultConfig().KeyframeRetry)); !ok || l != 0 {
		t.Fatal("keyframe request not retried")
	}
	out, v := send(0, 11, true, t0.Add(time.Second))
	if v != Forward || !out.Switched || out.From != -1 || out.To != 0 || out.SwitchDelay != time.Second {
		t.Fatalf("keyframe: %v %+v", v, out)
	}
	if _, ok := f.KeyframeRequest(t0.Add(2 * time.Second)); ok {
		t.Fatal("keyframe request after the switch completed")
	}
	f.SetTarget(2, t0.Add(2*time.Second))
	if _, v := send(0, 12, false, t0.Add(2*time.Second)); v != Forward {
		t.Fatalf("current layer stopped before the switch: %v", v)
	}
	if _, v := send(2, 500, false, t0.Add(2*time.Second)); v != DropWaitKeyframe {
		t.Fatalf("target delta frame: %v", v)
	}
	if _, v := send(1, 700, true, t0.Add(2*time.Second)); v != DropNotTarget {
		t.Fatalf("other layer: %v", v)
	}
	out, v = send(2, 501, true, t0.Add(3*time.Second))
	if v != Forward || !out.Switched || out.From != 0 || out.To != 2 || out.SequenceNumber != 13 {
		t.Fatalf("switch: %v %+v", v, out)
	}
	if f.CurrentLayer() != 2 || f.TargetLayer() != 2 {
		t.Fatalf("layers %d %d", f.CurrentLayer(), f.TargetLayer())
	}
	if _, v := send(0, 13, true, t0.Add(3*time.Second)); v != DropNotTarget {
		t.Fatalf("old layer after switch: %v", v)
	}
}

func TestForwarderPausesAtFrameEnd(t *testing.T) {
	f := NewForwarder(DefaultConfig(), 90000, VP8{})
	dst := make([]byte, 1500)
	buf := make([]byte, 1500)
	f.SetTarget(0, t0)
	pkt := func(seq uint16, ts uint32, start, key, marker bool) Verdict {
		h := rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: marker}
		_, v := accept(f, 0, &h, vp8Packet(buf, start, key, true, 1, 1, 30), t0, dst)
		return v
	}
	pkt(1, 100, true, true, false)
	f.SetTarget(-1, t0)
	if v := pkt(2, 100, false, false, false); v != Forward {
		t.Fatalf("rest of frame in flight: %v", v)
	}
	if v := pkt(3, 100, false, false, true); v != Forward || f.CurrentLayer() != -1 {
		t.Fatalf("end of frame: %v, layer %d", v, f.CurrentLayer())
	}
	if v := pkt(4, 200, true, true, true); v != DropPaused {
		t.Fatalf("after pause: %v", v)
	}
}

// TestForwarderDrainStopsAtFrameEnd: a switch down for congestion stops the
// layer left at the end of its frame in flight, and the lower layer's
// keyframe continues the numbering with no gap.
func TestForwarderDrainStopsAtFrameEnd(t *testing.T) {
	f := NewForwarder(DefaultConfig(), 90000, VP8{})
	dst := make([]byte, 1500)
	buf := make([]byte, 1500)
	pkt := func(layer int, seq uint16, ts uint32, start, key, marker bool) (Output, Verdict) {
		h := rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: marker}
		return accept(f, layer, &h, vp8Packet(buf, start, key, true, seq, 1, 30), t0, dst)
	}
	f.SetTarget(2, t0)
	pkt(2, 1, 100, true, true, true)
	pkt(2, 2, 200, true, false, false)
	f.SetTarget(0, t0)
	f.Drain()
	out, v := pkt(2, 3, 200, false, false, true)
	if v != Forward {
		t.Fatalf("rest of the frame in flight: %v", v)
	}
	last := out.SequenceNumber
	if _, _, ok := f.Padding(3); ok {
		t.Fatal("padding while draining")
	}
	if _, v := pkt(2, 4, 300, true, false, true); v != DropNotTarget {
		t.Fatalf("next frame of the layer left: %v", v)
	}
	if _, v := pkt(0, 50, 900, true, false, true); v != DropWaitKeyframe {
		t.Fatalf("target delta frame: %v", v)
	}
	if f.CurrentLayer() != 2 {
		t.Fatalf("a drain is not a pause: current layer %d", f.CurrentLayer())
	}
	out, v = pkt(0, 51, 1000, true, true, true)
	if v != Forward || !out.Switched || out.From != 2 || out.To != 0 || out.SequenceNumber != last+1 {
		t.Fatalf("switch after drain: %v %+v (last forwarded %d)", v, out, last)
	}

	// A drain without a switch down to wait for does nothing.
	f.SetTarget(2, t0)
	f.Drain()
	if _, v := pkt(0, 52, 1100, true, false, true); v != Forward {
		t.Fatalf("drain on a switch up stopped the current layer: %v", v)
	}
	// A new target ends a drain: the layer left flows again.
	f.SetTarget(2, t0)
	pkt(2, 10, 2000, true, true, true)
	f.SetTarget(0, t0)
	f.Drain()
	if _, v := pkt(2, 11, 2100, true, false, true); v != DropNotTarget {
		t.Fatalf("drain: %v", v)
	}
	f.SetTarget(2, t0)
	if _, v := pkt(2, 12, 2200, true, false, true); v != Forward {
		t.Fatalf("after the drain was called off: %v", v)
	}
}

func TestForwarderAudio(t *testing.T) {
	f := NewForwarder(DefaultConfig(), 48000, Passthrough{})
	payload := []byte{1, 2, 3}
	var last Output
	for i := 0; i < 10; i++ {
		h := rtp.Header{SequenceNumber: uint16(65530 + i), Timestamp: uint32(960 * i)}
		out, v := accept(f, 0, &h, payload, t0.Add(time.Duration(i)*20*time.Millisecond), nil)
		if v != Forward || &out.Payload[0] != &payload[0] || out.SequenceNumber != h.SequenceNumber {
			t.Fatalf("packet %d: %v %+v", i, v, out)
		}
		last = out
	}
	f.SetTarget(-1, t0.Add(200*time.Millisecond))
	h := rtp.Header{SequenceNumber: 4, Timestamp: 9600}
	if _, v := accept(f, 0, &h, payload, t0.Add(200*time.Millisecond), nil); v != DropPaused {
		t.Fatalf("paused audio: %v", v)
	}
	f.SetTarget(0, t0.Add(time.Second))
	h = rtp.Header{SequenceNumber: 100, Timestamp: 123456}
	out, v := accept(f, 0, &h, payload, t0.Add(1180*time.Millisecond), nil)
	if v != Forward || out.SequenceNumber != last.SequenceNumber+1 {
		t.Fatalf("resume: %v %+v", v, out)
	}
	if d := out.Timestamp - last.Timestamp; d < 48000-960 || d > 48000+960 {
		t.Fatalf("resume advanced ts by %d, want about 1s of 48 kHz", d)
	}
}

func TestVerdictStrings(t *testing.T) {
	for v := Forward; v < NumVerdicts; v++ {
		if v.String() == "unknown" || v.String() == "" {
			t.Errorf("verdict %d has no name", v)
		}
	}
}

// Chromium probes bandwidth with padding-only packets on the media SSRC; a
// dropped one would be a sequence gap every subscriber NACKs and counts lost.
func TestForwarderPassesPaddingWithoutGaps(t *testing.T) {
	f := NewForwarder(DefaultConfig(), 90000, VP8{})
	dst := make([]byte, 1500)
	buf := make([]byte, 1500)
	f.SetTarget(0, t0)
	var last uint16
	for seq := uint16(100); seq < 110; seq++ {
		h := rtp.Header{SequenceNumber: seq, Timestamp: 9000, Marker: true}
		payload := vp8Packet(buf, true, seq == 100, true, seq, 0, 40)
		if seq%3 == 2 {
			payload = nil // padding only
		}
		out, v := accept(f, 0, &h, payload, t0, dst)
		if v != Forward {
			t.Fatalf("seq %d (padding %v): %v", seq, payload == nil, v)
		}
		if seq > 100 && out.SequenceNumber != last+1 {
			t.Fatalf("seq %d went out as %d after %d", seq, out.SequenceNumber, last)
		}
		if payload == nil && len(out.Payload) != 0 {
			t.Fatal("padding gained a payload")
		}
		last = out.SequenceNumber
	}
}

// TestForwarderPaddingInsertion: probe padding takes the output seqs right
// after a frame's end, later media shifts past it, a packet of the run that
// arrives late still goes out in its own slot, and NACKs for the padding
// map to nothing.
func TestForwarderPaddingInsertion(t *testing.T) {
	f := NewForwarder(DefaultConfig(), 90000, VP8{})
	f.SetTarget(0, t0)
	send := layer0Sender(f)
	if _, v := send(100, 3000, true, false); v != Forward {
		t.Fatalf("keyframe: %v", v)
	}
	if _, _, ok := f.Padding(2); ok {
		t.Fatal("padding allowed in the middle of a frame")
	}
	// 101 is late; 102 ends the frame.
	o102, _ := send(102, 3000, false, true)
	first, ts, ok := f.Padding(3)
	if !ok || first != o102.SequenceNumber+1 || ts != o102.Timestamp {
		t.Fatalf("padding = %d %d %v, want %d %d", first, ts, ok, o102.SequenceNumber+1, o102.Timestamp)
	}
	o103, v := send(103, 6000, false, true)
	if v != Forward || o103.SequenceNumber != o102.SequenceNumber+4 {
		t.Fatalf("after padding: %v seq %d, want %d", v, o103.SequenceNumber, o102.SequenceNumber+4)
	}
	o101, v := send(101, 3000, false, false)
	if v != Forward || o101.SequenceNumber != o102.SequenceNumber-1 {
		t.Fatalf("late packet from before the padding: %v seq %d, want %d", v, o101.SequenceNumber, o102.SequenceNumber-1)
	}
	for s := first; s != first+3; s++ {
		if _, _, ok := f.Retransmission(s); ok {
			t.Errorf("NACK of padding seq %d maps to media", s)
		}
	}
	if l, in, ok := f.Retransmission(o103.SequenceNumber); !ok || l != 0 || in != 103 {
		t.Errorf("NACK after padding = %d %d %v", l, in, ok)
	}
}

// TestForwarderPaddingWhilePaused: a stream paused for bandwidth still takes
// probe padding (the only way its subscriber gets video back), and the
// keyframe that resumes it continues the output right after the padding.
func TestForwarderPaddingWhilePaused(t *testing.T) {
	f := NewForwarder(DefaultConfig(), 90000, VP8{})
	f.SetTarget(0, t0)
	send := layer0Sender(f)
	if _, _, ok := f.Padding(2); ok {
		t.Fatal("padding allowed before anything was forwarded")
	}
	send(100, 3000, true, false)
	last, _ := send(101, 3000, false, true)
	f.SetTarget(LayerPaused, t0)
	if _, v := send(102, 6000, false, true); v != DropPaused {
		t.Fatalf("paused: %v, want %v", v, DropPaused)
	}
	first, ts, ok := f.Padding(4)
	if !ok || first != last.SequenceNumber+1 || ts != last.Timestamp {
		t.Fatalf("padding while paused = %d %d %v, want %d %d true", first, ts, ok, last.SequenceNumber+1, last.Timestamp)
	}
	f.SetTarget(0, t0)
	if _, v := send(103, 9000, false, true); v != DropWaitKeyframe {
		t.Fatalf("resuming on a delta frame: %v, want %v", v, DropWaitKeyframe)
	}
	key, v := send(104, 12000, true, true)
	if v != Forward || !key.Switched || key.SequenceNumber != first+4 {
		t.Fatalf("resume: %v switched %v seq %d, want the seq after the padding, %d", v, key.Switched, key.SequenceNumber, first+4)
	}
	for s := first; s != first+4; s++ {
		if _, _, ok := f.Retransmission(s); ok {
			t.Errorf("NACK of padding seq %d maps to media", s)
		}
	}
}

// layer0Sender feeds f one-packet VP8 pieces of layer 0 at t0.
func layer0Sender(f *Forwarder) func(seq uint16, ts uint32, key, marker bool) (Output, Verdict) {
	return func(seq uint16, ts uint32, key, marker bool) (Output, Verdict) {
		h := rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: marker}
		return accept(f, 0, &h, vp8Packet(nil, true, key, true, seq, 1, 10), t0, make([]byte, 1500))
	}
}

// TestKeyframeNotBefore: a request that did not go out (the publisher
// would drop it, or the layer's keyframe was asked for lately) is asked for
// again from the time given, not one KeyframeRetry later; a new target
// asks without waiting for the old target's hold (only for KeyframeThrottle).
func TestKeyframeNotBefore(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	f := NewForwarder(DefaultConfig(), 90000, VP8{})
	f.SetTarget(1, t0)
	if l, ok := f.KeyframeRequest(t0); !ok || l != 1 {
		t.Fatal("no keyframe request for the target")
	}
	f.KeyframeNotBefore(ms(230))
	if _, ok := f.KeyframeRequest(ms(200)); ok {
		t.Fatal("asked again before the time given")
	}
	if l, ok := f.KeyframeRequest(ms(230)); !ok || l != 1 {
		t.Fatal("held request not asked again at the time given")
	}
	if _, ok := f.KeyframeRequest(ms(330)); ok {
		t.Fatal("a request that went out is not throttled")
	}
	f.KeyframeNotBefore(ms(900))
	f.SetTarget(2, ms(500))
	if l, ok := f.KeyframeRequest(ms(500)); !ok || l != 2 {
		t.Fatal("a new target waits for the old target's hold")
	}
}
