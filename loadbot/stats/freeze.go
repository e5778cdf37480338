package stats

import "time"

// freezeWindow is the number of recent inter-frame delays averaged, as in
// the W3C definition ("the last 30 rendered frames").
const freezeWindow = 30

// freezeMinExtra is the 150 ms floor from the W3C definition: at low frame
// rates 3× the average alone would call ordinary pacing a freeze.
const freezeMinExtra = 150 * time.Millisecond

// FreezeDetector applies the W3C webrtc-stats freeze definition
// (RTCInboundRtpStreamStats.freezeCount and totalFreezesDuration) to a series
// of rendered-frame times: a frame whose delay since the previous one is at
// least max(3 × avg, avg + 150 ms), avg being the mean of the previous (up to
// 30) inter-frame delays, ends a freeze lasting that whole delay.
// The zero value is ready to use.
type FreezeDetector struct {
	last   time.Time
	delays [freezeWindow]time.Duration
	n      int // delays held, up to freezeWindow
	next   int // ring write position
	sum    time.Duration
	count  int
	total  time.Duration
}

// OnFrame records a frame rendered at now and reports whether the gap
// before it was a freeze, and how long that gap was.
func (f *FreezeDetector) OnFrame(now time.Time) (frozen bool, gap time.Duration) {
	if f.last.IsZero() {
		f.last = now
		return false, 0
	}
	gap = now.Sub(f.last)
	f.last = now
	if gap < 0 {
		gap = 0
	}
	if f.n > 0 {
		avg := f.sum / time.Duration(f.n)
		if gap >= max(3*avg, avg+freezeMinExtra) {
			frozen = true
			f.count++
			f.total += gap
		}
	}
	// The freeze joins the average too, as in libwebrtc: after a long
	// stall the next ordinary gap must not count as a second freeze.
	if f.n == freezeWindow {
		f.sum -= f.delays[f.next]
	} else {
		f.n++
	}
	f.delays[f.next] = gap
	f.sum += gap
	f.next = (f.next + 1) % freezeWindow
	return frozen, gap
}

// Count returns the number of freezes seen.
func (f *FreezeDetector) Count() int { return f.count }

// TotalDuration returns the summed length of all freezes.
func (f *FreezeDetector) TotalDuration() time.Duration { return f.total }
