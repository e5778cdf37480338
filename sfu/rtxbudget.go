package sfu

import "time"

// rtxVerdict is an rtxBudget's answer to one NACKed packet.
type rtxVerdict uint8

const (
	rtxSend       rtxVerdict = iota
	rtxRepeat                // resent less than an RTT ago: the copy is still in flight
	rtxOverBudget            // the subscriber's retransmission budget is spent
)

const (
	// rtxMarks is how many recent retransmissions are remembered, by
	// outgoing sequence number: at 500 packets a second, the last second,
	// which is as far back as forward.nack_max_age lets a NACK reach.
	rtxMarks = 512
	// rtxBurstBytes bounds the budget saved up while nothing was lost:
	// enough to repair a burst of ~50 packets at once.
	rtxBurstBytes = 64 << 10
	// The resend interval is the subscriber's RTT, kept within these
	// bounds; before any RTT is measured it is rtxDefaultInterval.
	rtxMinInterval     = 20 * time.Millisecond
	rtxMaxInterval     = 500 * time.Millisecond
	rtxDefaultInterval = 100 * time.Millisecond
	// rtxMinPacket is less than any media packet (header and payload).
	rtxMinPacket = 20
)

type rtxMark struct {
	seq uint16
	at  int64 // unix nanos; 0 = empty
}

// rtxBudget bounds what one subscriber's NACKs can make the server send on
// one track. A NACK costs the subscriber ~16 bytes and the server a whole
// packet, so without a bound a subscriber that NACKs the same packets over
// and over turns the SFU into an amplifier. Two rules:
//   - a packet is resent at most once per RTT: a second NACK within it
//     cannot mean the first copy was lost;
//   - retransmitted bytes are earned at share × the media bytes sent, with
//     at most rtxBurstBytes saved, so a storm costs at most share of the
//     media it asks about.
//
// Pure and clock-injected; the DownTrack that owns it serialises calls
// (they happen under its mutex).
type rtxBudget struct {
	share  float64
	tokens float64
	marks  *[rtxMarks]rtxMark // allocated at the first NACK: most tracks never see one
}

func newRTXBudget(share float64) rtxBudget { return rtxBudget{share: share} }

// onMedia earns the budget for n media bytes sent.
func (b *rtxBudget) onMedia(n int) {
	b.tokens = min(rtxBurstBytes, b.tokens+b.share*float64(n))
}

// resendInterval is the minimum time between two resends of one packet for
// a subscriber whose RTT is rtt (0 = not measured yet).
func resendInterval(rtt time.Duration) time.Duration {
	if rtt <= 0 {
		return rtxDefaultInterval
	}
	return min(max(rtt, rtxMinInterval), rtxMaxInterval)
}

// check says whether seq may be resent at now, before the packet is looked
// up: a repeat within interval is refused without touching the cache.
func (b *rtxBudget) check(seq uint16, now int64, interval time.Duration) rtxVerdict {
	if b.tokens < rtxMinPacket {
		return rtxOverBudget // no packet fits: spare the cache lookup
	}
	if b.marks != nil {
		if m := b.marks[seq%rtxMarks]; m.at != 0 && m.seq == seq && now-m.at < int64(interval) {
			return rtxRepeat
		}
	}
	return rtxSend
}

// spend charges a resend of n bytes of seq at now, or refuses it.
// A refusal marks seq too: NACKs repeated within the interval are then
// refused by check, without another cache lookup.
func (b *rtxBudget) spend(seq uint16, n int, now int64) rtxVerdict {
	if b.marks == nil {
		b.marks = new([rtxMarks]rtxMark)
	}
	b.marks[seq%rtxMarks] = rtxMark{seq: seq, at: now}
	if b.tokens < float64(n) {
		return rtxOverBudget
	}
	b.tokens -= float64(n)
	return rtxSend
}
