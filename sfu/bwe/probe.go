package bwe

import "time"

// A probe cluster is a burst of padding sent back to back. Whatever the
// burst's rate at the sender, the bottleneck spaces its packets out at its
// own rate, so the arrival dispersion measures the link: the bytes that
// arrived after the cluster's first packet and up to its last, over the time
// between them. Media interleaved in the queue is counted too: it shared the
// link during the measurement.
const (
	// Enough packets to measure dispersion at 250 µs feedback resolution.
	MinProbePackets = 5
	// MaxProbePackets bounds a cluster (and what the tracker records of it).
	MaxProbePackets = 32
	// A cluster of at least twice MinProbePackets received is measured over
	// its later half when that half spans laterHalfSpan: a shaper's token
	// bucket lets the first packets of a burst through at once (HTB's one
	// packet of burst is five padding packets), and a dispersion taken
	// from the first packet read a 400 kbit/s link as keeping up with
	// 580 kbit/s. Shorter spans are left whole: at 250 µs feedback
	// resolution a few ticks would make a fast link read short.
	laterHalfSpan = 4 * time.Millisecond
	// A cluster not fully reported after this is judged on what came back.
	probeTimeout = time.Second
	arrivalRing  = 512
)

// ProbeResult is what one probe cluster showed.
type ProbeResult struct {
	ID     int
	Target int64 // bps the cluster was sent to prove
	// Rate is the rate the path delivered during the cluster; when
	// Limited is false the path kept up with the burst and Rate is Target
	// (it carries at least that much).
	Rate    int64
	Limited bool
	// Held: the estimator keeps this reading until another probe
	// confirms it (the last one found the link short); probe again soon.
	Held bool
}

type cluster struct {
	id                  int
	target              int64
	packets             int
	startedAt           time.Duration // local time the cluster was sent
	reported, received  int
	first, last         time.Duration // arrivals of its first and last received packets
	haveFirst, finished bool
	arrivals            [MaxProbePackets]time.Duration // of its received packets, as reported
}

type probeTracker struct {
	clusters [4]cluster
	// Recent arrivals of every received packet, to count what shared
	// the link during a cluster.
	arrivals [arrivalRing]rateSample
	ahead    int
	an       int
}

func (p *probeTracker) start(id int, target int64, packets int, now time.Duration) {
	c := &p.clusters[id%len(p.clusters)]
	*c = cluster{id: id, target: target, packets: packets, startedAt: now}
}

func (p *probeTracker) find(id int) *cluster {
	c := &p.clusters[id%len(p.clusters)]
	if c.id != id || c.finished || c.packets == 0 {
		return nil
	}
	return c
}

func (p *probeTracker) add(r *PacketResult) {
	if r.Received {
		if p.an == arrivalRing {
			p.ahead = (p.ahead + 1) % arrivalRing
			p.an--
		}
		p.arrivals[(p.ahead+p.an)%arrivalRing] = rateSample{r.Arrival, r.Size}
		p.an++
	}
	if r.Probe == 0 {
		return
	}
	c := p.find(r.Probe)
	if c == nil {
		return
	}
	c.reported++
	if !r.Received {
		return
	}
	if c.received < MaxProbePackets {
		c.arrivals[c.received] = r.Arrival
	}
	c.received++
	if !c.haveFirst || r.Arrival < c.first {
		c.first, c.haveFirst = r.Arrival, true
	}
	c.last = max(c.last, r.Arrival)
}

// results appends the clusters that finished (fully reported, or timed out).
func (p *probeTracker) results(now time.Duration, out []ProbeResult) []ProbeResult {
	for i := range p.clusters {
		c := &p.clusters[i]
		if c.packets == 0 || c.finished {
			continue
		}
		if c.reported < c.packets && now-c.startedAt < probeTimeout {
			continue
		}
		c.finished = true
		if res, ok := p.judge(c); ok {
			out = append(out, res)
		}
	}
	return out
}

func (p *probeTracker) judge(c *cluster) (ProbeResult, bool) {
	res := ProbeResult{ID: c.id, Target: c.target}
	if c.received < MinProbePackets {
		if c.reported >= MinProbePackets {
			// Most of the burst was lost: the path is far below the
			// target, but there is nothing to measure it by.
			res.Limited = true
			return res, true
		}
		return res, false
	}
	from := c.first
	if n := min(c.received, MaxProbePackets); n >= 2*MinProbePackets {
		arr := c.arrivals[:n]
		for i := 1; i < n; i++ { // feedback reports in sequence order, not always in arrival order
			for j := i; j > 0 && arr[j] < arr[j-1]; j-- {
				arr[j], arr[j-1] = arr[j-1], arr[j]
			}
		}
		if mid := arr[n/2-1]; c.last-mid >= laterHalfSpan {
			from = mid
		}
	}
	span := c.last - from
	bytes := 0
	for k := 0; k < p.an; k++ {
		s := p.arrivals[(p.ahead+k)%arrivalRing]
		if s.at > from && s.at <= c.last {
			bytes += s.size
		}
	}
	lossy := c.received*5 < c.reported*4 // over 20 % of the burst lost
	if span <= 0 {
		res.Rate = c.target
		res.Limited = lossy
		return res, !lossy
	}
	rate := int64(float64(bytes) * 8 / span.Seconds())
	if rate >= c.target && !lossy {
		res.Rate = c.target
		return res, true
	}
	res.Rate, res.Limited = min(rate, c.target), true
	return res, true
}
