package bwe

import "time"

// ackedRate measures the rate at which the receiver got packets, over a
// sliding window of arrival time: what the path delivered, the evidence
// every increase and decrease is measured against.
type ackedRate struct {
	window  time.Duration
	samples [256]rateSample
	head, n int
	bytes   int
}

type rateSample struct {
	at   time.Duration
	size int
}

func (a *ackedRate) add(at time.Duration, size int) {
	if a.n == len(a.samples) {
		a.bytes -= a.samples[a.head].size
		a.head = (a.head + 1) % len(a.samples)
		a.n--
	}
	a.samples[(a.head+a.n)%len(a.samples)] = rateSample{at, size}
	a.n++
	a.bytes += size
	for a.n > 1 && at-a.samples[a.head].at > a.window {
		a.bytes -= a.samples[a.head].size
		a.head = (a.head + 1) % len(a.samples)
		a.n--
	}
}

// rate is the delivered bitrate, 0 until the window holds enough to say.
func (a *ackedRate) rate() int64 {
	if a.n < 2 {
		return 0
	}
	first := a.samples[a.head]
	last := a.samples[(a.head+a.n-1)%len(a.samples)]
	span := last.at - first.at
	if span < a.window/4 {
		return 0
	}
	// The first sample's bytes arrived at the window's start, not in it.
	return int64(float64(a.bytes-first.size) * 8 / span.Seconds())
}

// lossWindow counts packets and losses over the last feedback window of
// send time, at least minPackets packets deep.
type lossWindow struct {
	sent, lost [16]int
	at         [16]time.Duration
	head, n    int
}

const lossBucket = 100 * time.Millisecond

func (l *lossWindow) add(sendTime time.Duration, lost bool) {
	if l.n == 0 || sendTime-l.at[(l.head+l.n-1)%16] >= lossBucket {
		if l.n == 16 {
			l.head = (l.head + 1) % 16
			l.n--
		}
		i := (l.head + l.n) % 16
		l.sent[i], l.lost[i], l.at[i] = 0, 0, sendTime
		l.n++
	}
	i := (l.head + l.n - 1) % 16
	l.sent[i]++
	if lost {
		l.lost[i]++
	}
}

// fraction is the loss over the newest buckets holding at least 20 packets
// (up to 1.6 s), and whether there were enough packets to tell.
func (l *lossWindow) fraction() (float64, bool) {
	sent, lost := 0, 0
	for k := 0; k < l.n; k++ {
		i := (l.head + l.n - 1 - k) % 16
		sent += l.sent[i]
		lost += l.lost[i]
		if sent >= 20 && k >= 4 {
			break
		}
	}
	if sent < 10 {
		return 0, false
	}
	return float64(lost) / float64(sent), true
}
