package bwe

import (
	"math/rand"
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// A simulated subscriber downlink: a sender choosing simulcast layers by
// the estimate (as the SFU's controller does), a bottleneck with a tail-drop
// queue, a receiver that builds real TWCC feedback with Pion's recorder, and
// everything driven by a fake clock in 1 ms steps. The receiver can stamp
// arrivals late in bursts, as a busy client does.

type simLink struct {
	rate  int64 // bps; 0 = unlimited
	queue int   // bytes; tail drop beyond
	// burst is the shaper's token bucket (bytes): a packet finding that
	// many tokens saved up leaves at once, as through tc's HTB; 0 is a
	// link that serialises every packet at rate.
	burst    int
	delay    time.Duration
	loss     float64 // random loss before the queue
	busyIn   time.Duration
	busyFor  time.Duration // receiver stalls: busyFor every busyIn, arrivals stamped at the stall's end
	busyRand *rand.Rand
}

type simPacket struct {
	seq     uint64
	size    int
	depart  time.Duration // leaves the bottleneck
	arrive  time.Duration // at the receiver's socket
	probe   bool
	dropped bool
}

type sim struct {
	t     *testing.T
	now   time.Duration
	epoch time.Time
	link  simLink
	rng   *rand.Rand

	hist *History
	fb   *Feedback
	est  *Estimator
	pc   *ProbeController
	rec  *twcc.Recorder

	inFlight  []*simPacket
	queueEnd  time.Duration // when the bottleneck's queue empties
	tokens    float64       // the shaper's saved bytes at tokensAt
	tokensAt  time.Duration
	queued    []*simPacket // in the queue, for its byte count
	feedbacks []pendingFeedback
	stallEnd  time.Duration

	layers  []int64 // bps per layer, lowest first
	audio   int64
	layer   int // current layer, -1 paused
	maxL    int
	results []PacketResult
	nextFB  time.Duration
	nextFr  time.Duration
	pending *Probe

	// What happened, per 100 ms.
	trace []simSample
}

type pendingFeedback struct {
	at  time.Duration
	pkt []byte
}

type simSample struct {
	at       time.Duration
	estimate int64
	layer    int
	sent     int // bytes sent in the interval
	lost     int // packets lost in the interval
	pkts     int
	usage    Usage
}

func newSim(t *testing.T, link simLink) *sim {
	epoch := time.Unix(1_700_000_000, 0)
	s := &sim{
		t: t, epoch: epoch, link: link, rng: rand.New(rand.NewSource(1)),
		hist:   NewHistory(epoch),
		rec:    twcc.NewRecorder(1),
		layers: []int64{150_000, 500_000, 1_700_000},
		audio:  40_000,
		layer:  0,
		maxL:   2,
	}
	s.fb = NewFeedback(s.hist)
	cfg := DefaultConfig()
	s.est = NewEstimator(cfg, epoch)
	s.pc = NewProbeController(DefaultProbeConfig())
	if link.busyRand == nil {
		s.link.busyRand = rand.New(rand.NewSource(2))
	}
	return s
}

func (s *sim) wall() time.Time { return s.epoch.Add(s.now) }

// send puts one packet on the link.
func (s *sim) send(size int, probe int) {
	seq := s.hist.Next()
	s.hist.Sent(seq, size, probe, s.wall())
	p := &simPacket{seq: seq, size: size, probe: probe != 0}
	if len(s.trace) > 0 {
		tr := &s.trace[len(s.trace)-1]
		tr.sent += size
		tr.pkts++
	}
	if s.link.loss > 0 && s.rng.Float64() < s.link.loss {
		p.dropped = true
		s.count(p)
		s.inFlight = append(s.inFlight, p)
		return
	}
	// Tail drop: the bytes still queued at the bottleneck.
	q := 0
	keep := s.queued[:0]
	for _, x := range s.queued {
		if x.depart > s.now {
			q += x.size
			keep = append(keep, x)
		}
	}
	s.queued = keep
	if s.link.rate > 0 && q+size > s.link.queue {
		p.dropped = true
		s.count(p)
		s.inFlight = append(s.inFlight, p)
		return
	}
	start := max(s.now, s.queueEnd)
	p.depart = start
	if s.link.rate > 0 {
		perByte := float64(time.Second) * 8 / float64(s.link.rate)
		if s.link.burst > 0 {
			s.tokens = min(float64(s.link.burst), s.tokens+float64(start-s.tokensAt)/perByte)
		}
		if short := float64(size) - s.tokens; short > 0 {
			p.depart += time.Duration(short * perByte)
			s.tokens = 0
		} else {
			s.tokens -= float64(size)
		}
		s.tokensAt = p.depart
	}
	s.queueEnd = p.depart
	p.arrive = p.depart + s.link.delay
	s.queued = append(s.queued, p)
	s.inFlight = append(s.inFlight, p)
}

func (s *sim) count(p *simPacket) {
	if len(s.trace) > 0 {
		s.trace[len(s.trace)-1].lost++
	}
}

// step advances the clock by 1 ms.
func (s *sim) step() {
	s.now += time.Millisecond
	if s.now%(100*time.Millisecond) == 0 {
		s.trace = append(s.trace, simSample{at: s.now, estimate: s.est.Target(), layer: s.layer, usage: s.est.Stats().Usage})
	}
	// Receiver: arrivals up to now, stamped late during a stall.
	if s.link.busyIn > 0 && s.now >= s.stallEnd+s.link.busyIn && s.link.busyRand.Intn(int(s.link.busyIn/time.Millisecond)) == 0 {
		s.stallEnd = s.now + time.Duration(s.link.busyRand.Int63n(int64(s.link.busyFor)))
	}
	stalled := s.now < s.stallEnd
	keep := s.inFlight[:0]
	for _, p := range s.inFlight {
		if p.dropped {
			continue // never arrives; the recorder sees the gap
		}
		if p.arrive > s.now || stalled {
			keep = append(keep, p)
			continue
		}
		s.rec.Record(1, uint16(p.seq), int64(s.now/time.Microsecond))
	}
	s.inFlight = keep
	if s.now >= s.nextFB && !stalled {
		s.nextFB = s.now + 50*time.Millisecond
		for _, pkt := range s.rec.BuildFeedbackPacket() {
			raw, err := pkt.Marshal()
			if err != nil {
				s.t.Fatal(err)
			}
			s.feedbacks = append(s.feedbacks, pendingFeedback{at: s.now + s.link.delay, pkt: raw})
		}
	}
	// Sender: feedback that has come back.
	for len(s.feedbacks) > 0 && s.feedbacks[0].at <= s.now {
		pkts, err := rtcp.Unmarshal(s.feedbacks[0].pkt)
		if err != nil {
			s.t.Fatal(err)
		}
		s.feedbacks = s.feedbacks[1:]
		for _, p := range pkts {
			if tcc, ok := p.(*rtcp.TransportLayerCC); ok {
				s.results = s.fb.Results(tcc, s.wall(), s.results[:0])
				for _, r := range s.est.OnFeedback(s.wall(), s.results) {
					s.pc.OnResult(s.wall(), r)
				}
			}
		}
	}
	for _, r := range s.est.Tick(s.wall()) {
		s.pc.OnResult(s.wall(), r)
	}
	if s.now%(100*time.Millisecond) == 0 {
		s.control()
	}
	// Media: 30 frames a second per layer's rate, audio every 20 ms.
	if s.now%(20*time.Millisecond) == 0 {
		s.send(int(s.audio/8/50), 0)
	}
	if s.now >= s.nextFr {
		s.nextFr = s.now + 33*time.Millisecond
		if s.layer >= 0 {
			frame := int(s.layers[s.layer] / 8 / 30)
			for frame > 0 {
				n := min(frame, 1200)
				s.send(n, 0)
				frame -= n
			}
		}
		// After the frame, or alone while video is paused (as the
		// SFU probes a paused subscriber).
		if p := s.pending; p != nil {
			s.pending = nil
			s.est.StartProbe(p.ID, p.Target, p.Packets, s.wall())
			for i := 0; i < p.Packets; i++ {
				s.send(255+20, p.ID)
			}
		}
	}
}

// control is the SFU controller's loop in miniature: the best layer the
// estimate covers with 15 % headroom, and a probe while held below the top.
func (s *sim) control() {
	st := s.est.Stats()
	est := st.Target
	budget := est - s.audio
	if !st.Proven && s.now < 3*time.Second {
		// The controller's startCap: low until something is proven, for
		// at most 3 s.
		budget = min(budget, s.layers[0]*115/100)
	}
	next := -1
	for l := s.maxL; l >= 0; l-- {
		h := 115
		if l <= s.layer {
			h = 100
		}
		if s.layers[l]*int64(h)/100 <= budget {
			next = l
			break
		}
	}
	s.layer = next
	desired := s.layers[s.maxL]*115/100 + s.audio
	congested := st.Usage == UsageOver || (st.LossOK && st.Loss > DefaultConfig().LossHigh)
	if p, ok := s.pc.Decide(s.wall(), ProbeInputs{Estimate: est, Desired: desired, Ready: true, Congested: congested}); ok {
		s.pending = &p
	}
}

func (s *sim) run(d time.Duration) {
	for end := s.now + d; s.now < end; {
		s.step()
	}
}

// window summarises the trace over (from, to].
type simWindow struct {
	minEst, maxEst int64
	lossPct        float64
	layers         map[int]int // samples per layer
	paused         int
	sentBps        int64
}

func (s *sim) window(from, to time.Duration) simWindow {
	w := simWindow{minEst: 1 << 62, layers: map[int]int{}}
	pkts, lost, bytes := 0, 0, 0
	for _, tr := range s.trace {
		if tr.at <= from || tr.at > to {
			continue
		}
		w.minEst, w.maxEst = min(w.minEst, tr.estimate), max(w.maxEst, tr.estimate)
		w.layers[tr.layer]++
		if tr.layer < 0 {
			w.paused++
		}
		pkts += tr.pkts
		lost += tr.lost
		bytes += tr.sent
	}
	if pkts > 0 {
		w.lossPct = 100 * float64(lost) / float64(pkts)
	}
	w.sentBps = int64(float64(bytes*8) / (to - from).Seconds())
	return w
}

// firstLayerAtLeast is how long after after the subscriber was first on
// layer or above it (-1: never).
func (s *sim) firstLayerAtLeast(layer int, after time.Duration) time.Duration {
	for _, tr := range s.trace {
		if tr.at > after && tr.layer >= layer {
			return tr.at - after
		}
	}
	return -1
}

func (s *sim) logTrace(from, to time.Duration) {
	for _, tr := range s.trace {
		if tr.at > from && tr.at <= to && tr.at%(500*time.Millisecond) == 0 {
			s.t.Logf("t=%5.1fs est=%7d layer=%2d sent=%6d bps lost=%d usage=%s", tr.at.Seconds(), tr.estimate, tr.layer, tr.sent*8*10, tr.lost, tr.usage)
		}
	}
}
