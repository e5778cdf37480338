// SPDX-FileCopyrightText: 2023 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package srtp

// replayWindow is replaydetector.New's sliding window (no wrapping), with
// a check and an accept that allocate nothing: the detector's Check returns
// a closure, one heap allocation for every packet decrypted. decryptRTP
// uses check and accept directly; Check keeps the ReplayDetector interface
// for anyone else holding one.
type replayWindow struct {
	latestSeq  uint64
	maxSeq     uint64
	windowSize uint
	mask       []uint64 // bit i: latestSeq-i was accepted
}

func newReplayWindow(windowSize uint, maxSeq uint64) *replayWindow {
	return &replayWindow{maxSeq: maxSeq, windowSize: windowSize, mask: make([]uint64, (windowSize+63)/64)}
}

func (w *replayWindow) bit(i uint) bool {
	return w.mask[i/64]&(1<<(i%64)) != 0
}

// check reports whether seq is new: within the limit, inside the window and
// not accepted before.
func (w *replayWindow) check(seq uint64) bool {
	if seq > w.maxSeq {
		return false
	}
	if seq <= w.latestSeq {
		if w.latestSeq >= uint64(w.windowSize)+seq {
			return false
		}
		if w.bit(uint(w.latestSeq - seq)) {
			return false
		}
	}
	return true
}

// accept marks seq received, moving the window's head when seq is past it.
func (w *replayWindow) accept(seq uint64) {
	if seq > w.latestSeq {
		w.shift(seq - w.latestSeq)
		w.latestSeq = seq
	}
	diff := (w.latestSeq - seq) % w.maxSeq
	if diff < uint64(w.windowSize) {
		w.mask[diff/64] |= 1 << (diff % 64)
	}
}

// shift moves every bit n places up (older), dropping those past the window.
func (w *replayWindow) shift(n uint64) {
	if n >= uint64(len(w.mask))*64 {
		for i := range w.mask {
			w.mask[i] = 0
		}
		return
	}
	words, bits := int(n/64), uint(n%64)
	for i := len(w.mask) - 1; i >= 0; i-- {
		var v uint64
		if j := i - words; j >= 0 {
			v = w.mask[j] << bits
			if bits > 0 && j > 0 {
				v |= w.mask[j-1] >> (64 - bits)
			}
		}
		w.mask[i] = v
	}
	if rem := w.windowSize % 64; rem != 0 {
		w.mask[len(w.mask)-1] &= 1<<rem - 1
	}
}

// Check implements replaydetector.ReplayDetector.
func (w *replayWindow) Check(seq uint64) (func(), bool) {
	if !w.check(seq) {
		return func() {}, false
	}
	return func() { w.accept(seq) }, true
}
