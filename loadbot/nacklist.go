package loadbot

import "time"

// nackConfig is how a subscriber bot asks for missing packets again.
type nackConfig struct {
	// Interval is the least time between two requests for one packet;
	// with a measured round trip above it, 1.5 round trips.
	Interval time.Duration
	// MaxRequests requests without an answer make a packet lost for good.
	MaxRequests int
	// MaxAge is the longest a packet stays wanted, whatever the round trip.
	MaxAge time.Duration
	// MaxMissing bounds the list; the oldest beyond it are given up, as
	// libwebrtc's NACK module does when its list overflows.
	MaxMissing int
	// Off sends no requests (a browser with NACK disabled): a missing
	// packet gets one Interval to turn up reordered, then is given up.
	Off bool
}

func defaultNACKConfig() nackConfig {
	// Interval: Pion's generator period and libwebrtc's round trip before
	// one is measured. Five tries span half a second on a fast link.
	return nackConfig{Interval: 100 * time.Millisecond, MaxRequests: 5, MaxAge: 2 * time.Second, MaxMissing: 512}
}

type nackEntry struct {
	ext   int64
	since time.Time // when it was found missing
	sent  time.Time // last request
	n     int       // requests so far
}

// nackList is one video track's missing packets and their requests. Pure:
// fed with gaps, arrivals and ticks, each with the time; no I/O.
type nackList struct {
	cfg     nackConfig
	entries []nackEntry // increasing ext
	rtt     time.Duration
}

// missing records [from, to) as missing since now.
func (l *nackList) missing(from, to int64, now time.Time) {
	if n := to - from; n > int64(l.cfg.MaxMissing) {
		from = to - int64(l.cfg.MaxMissing)
	}
	for x := from; x < to; x++ {
		l.entries = append(l.entries, nackEntry{ext: x, since: now})
	}
}

// arrived removes ext from the list; a packet answering a single request
// gives a round-trip sample (later ones are ambiguous, as in TCP).
func (l *nackList) arrived(ext int64, now time.Time) {
	for i := range l.entries {
		e := &l.entries[i]
		if e.ext < ext {
			continue
		}
		if e.ext == ext {
			if e.n == 1 {
				sample := now.Sub(e.sent)
				if l.rtt == 0 {
					l.rtt = sample
				} else {
					l.rtt += (sample - l.rtt) / 8
				}
			}
			l.entries = append(l.entries[:i], l.entries[i+1:]...)
		}
		return
	}
}

// interval is the wait between two requests for one packet.
func (l *nackList) interval() time.Duration {
	return max(l.cfg.Interval, l.rtt*3/2)
}

// tick appends to nack the sequence numbers to request now and to lost
// the packets given up, removing those from the list.
func (l *nackList) tick(now time.Time, nack []uint16, lost []int64) ([]uint16, []int64) {
	iv := l.interval()
	keep := l.entries[:0]
	for i, e := range l.entries {
		over := len(l.entries)-i > l.cfg.MaxMissing
		tried := l.cfg.Off || (e.n >= l.cfg.MaxRequests && now.Sub(e.sent) >= iv)
		if over || (tried && now.Sub(e.since) >= iv) || now.Sub(e.since) >= l.cfg.MaxAge {
			lost = append(lost, e.ext)
			continue
		}
		if !l.cfg.Off && (e.n == 0 || now.Sub(e.sent) >= iv) {
			e.n++
			e.sent = now
			nack = append(nack, uint16(e.ext))
		}
		keep = append(keep, e)
	}
	l.entries = keep
	return nack, lost
}

// keyframeRequests throttles the PLIs of one track: while the decoder
// waits for a keyframe that is not on its way, one request every
// interval, as libwebrtc repeats its keyframe request every 200 ms.
type keyframeRequests struct {
	interval time.Duration
	last     time.Time
}

const pliInterval = 200 * time.Millisecond

// due reports whether to send a PLI now.
func (k *keyframeRequests) due(need bool, now time.Time) bool {
	if !need || (!k.last.IsZero() && now.Sub(k.last) < k.interval) {
		return false
	}
	k.last = now
	return true
}
