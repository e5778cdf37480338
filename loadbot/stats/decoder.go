package stats

import "time"

// decoder models what a browser's video decoder can show, so frames and
// freezes are counted from what a viewer would see, not from what merely
// arrived. VP8 without temporal layers (what publishers send) decodes
// each frame from the one before it, so:
//   - a frame is decoded when it is complete and the frame before it was
//     decoded, or when it is a complete keyframe;
//   - frames wait, undecoded, while a missing packet may still be repaired
//     by retransmission, and decode in a burst when it is;
//   - once a packet is lost for good (GiveUp, or it left the window),
//     nothing decodes until the next complete keyframe;
//   - a complete keyframe is decoded at once, even if older frames are
//     still incomplete: they are skipped, as libwebrtc's frame buffer does.
//
// Nothing decodes before the first keyframe.
type decoder struct {
	waiting bool  // needs a keyframe: until the first, and after a loss given up
	next    int64 // first packet of the next frame to decode (when !waiting)
	key     int64 // first packet of the newest keyframe not yet decoded (0: none)
}

// decode decodes (renders) every frame that has become decodable.
func (s *TrackStats) decode(now time.Time) {
	w, d := &s.win, &s.dec
	for {
		if !d.waiting {
			// Padding between frames belongs to none of them.
			for w.has(d.next) && w.at(d.next).filler {
				d.next++
			}
			if end, ok := w.frameEnd(d.next); ok {
				s.decodeFrame(d.next, end, now)
				continue
			}
		}
		if d.key != 0 {
			if end, ok := w.frameEnd(d.key); ok {
				d.waiting = false
				s.decodeFrame(d.key, end, now)
				continue
			}
		}
		return
	}
}

func (s *TrackStats) decodeFrame(start, end int64, now time.Time) {
	s.dec.next = end + 1
	if s.dec.key != 0 && s.dec.key <= end {
		s.dec.key = 0
	}
	s.onFrame(s.win.at(start).ts, now)
}

// lose tells the decoder that packet ext will never arrive.
func (s *TrackStats) lose(ext int64) {
	d := &s.dec
	if !d.waiting && ext < d.next {
		return // in a frame already decoded (or skipped)
	}
	d.waiting = true
	if d.key != 0 && d.key <= ext && s.win.inFrame(d.key, ext) {
		// The keyframe on its way was hit: ask for another.
		d.key = 0
	}
}

// inFrame reports whether the frame that starts at start (present) reaches
// as far as x: no packet between them ends the frame or has another
// timestamp.
func (w *seqWindow) inFrame(start, x int64) bool {
	ts := w.at(start).ts
	for e := start; e < x; e++ {
		if !w.has(e) {
			continue
		}
		if sl := w.at(e); sl.ts != ts || sl.marker {
			return false
		}
	}
	return true
}
