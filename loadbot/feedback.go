package loadbot

import (
	"sync"
	"time"

	"github.com/pion/rtcp"

	"github.com/surgertc/surge/loadbot/stats"
)

// RTCP a subscriber bot sends, on the schedule a browser keeps.
const (
	feedbackTick = 20 * time.Millisecond  // NACK and PLI decisions
	twccInterval = 100 * time.Millisecond // transport-wide CC feedback, as Pion and libwebrtc by default
	rrInterval   = time.Second            // receiver reports
)

// feedbackLoop is the one goroutine of a run that sends every subscriber's
// RTCP: a timer per bot would wake the process thousands of times a second
// for nothing. It visits each subscriber every feedbackTick; writes go
// out on this goroutine, never on the packet path.
type feedbackLoop struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
	stop chan struct{}
	done chan struct{}
}

func newFeedbackLoop() *feedbackLoop {
	f := &feedbackLoop{subs: map[*subscriber]struct{}{}, stop: make(chan struct{}), done: make(chan struct{})}
	go f.run()
	return f
}

func (f *feedbackLoop) add(s *subscriber) {
	f.mu.Lock()
	f.subs[s] = struct{}{}
	f.mu.Unlock()
}

func (f *feedbackLoop) remove(s *subscriber) {
	f.mu.Lock()
	delete(f.subs, s)
	f.mu.Unlock()
}

func (f *feedbackLoop) run() {
	defer close(f.done)
	t := time.NewTicker(feedbackTick)
	defer t.Stop()
	var subs []*subscriber
	for {
		select {
		case <-f.stop:
			return
		case now := <-t.C:
			f.mu.Lock()
			subs = subs[:0]
			for s := range f.subs {
				subs = append(subs, s)
			}
			f.mu.Unlock()
			for _, s := range subs {
				s.feedback(now)
			}
			clear(subs)
		}
	}
}

// close stops the loop and waits for it.
func (f *feedbackLoop) close() {
	close(f.stop)
	<-f.done
}

// senderReport is what a receiver keeps of the last RTCP sender report of
// a stream, to echo it (RFC 3550 §6.4.1 LSR/DLSR) so the sender can
// measure the round trip.
type senderReport struct {
	ntpMiddle uint32 // middle 32 bits of its NTP timestamp
	at        time.Time
}

// receptionReport is one receiver report block for ssrc: cur against the
// block sent before (prev), with the last sender report echoed.
func receptionReport(ssrc uint32, cur, prev stats.Reception, sr senderReport, now time.Time) rtcp.ReceptionReport {
	rr := rtcp.ReceptionReport{SSRC: ssrc, LastSequenceNumber: cur.HighestSeq, Jitter: cur.Jitter}
	if cur.Expected > cur.Received {
		rr.TotalLost = uint32(min(cur.Expected-cur.Received, 1<<23-1))
	}
	expected := int64(cur.Expected) - int64(prev.Expected)
	lost := expected - (int64(cur.Received) - int64(prev.Received))
	if expected > 0 && lost > 0 {
		rr.FractionLost = uint8(min(lost*256/expected, 255))
	}
	if !sr.at.IsZero() {
		rr.LastSenderReport = sr.ntpMiddle
		rr.Delay = uint32(now.Sub(sr.at) * 65536 / time.Second)
	}
	return rr
}
