package sfu

import (
	"time"

	"github.com/pion/rtp"

	"github.com/surgertc/surge/simulcast"
)

// readAheadSize is how many upstream packets a layer's read loop can hold:
// a frame of f at 2.5 Mbit/s and 30 fps is about nine packets.
const readAheadSize = 16

// readAhead lets a layer's read loop take every packet that has already
// arrived in one go, so that each subscriber's share of them leaves in one
// send (UDP GSO, batch_linux.go) instead of one send per packet per
// subscriber. It never waits for a packet that has not arrived: the group
// is whatever a reader goroutine has taken from Pion by the time the read
// loop is free, often one packet, and no timer is involved.
//
// The reader goroutine belongs to the read loop: it ends when the track's
// Read fails (the PeerConnection closed), closes filled, and the read loop
// returns after the last group; wait() joins it.
type readAhead struct {
	pkts   [readAheadSize]inPacket
	filled chan int // slots read, in arrival order
	free   chan int // slots the read loop has finished with
	group  [readAheadSize]int
	err    error // why the reader stopped; read after filled is closed
	done   chan struct{}
}

// inPacket is one upstream packet and what the read loop learns of it.
type inPacket struct {
	buf  [maxPacketSize]byte
	n    int
	at   time.Time // when it was read from Pion: in-SFU latency starts here
	pkt  rtp.Packet
	meta simulcast.Meta
}

func newReadAhead() *readAhead {
	ra := &readAhead{filled: make(chan int, readAheadSize), free: make(chan int, readAheadSize), done: make(chan struct{})}
	for i := range ra.pkts {
		ra.free <- i
	}
	return ra
}

// run is the reader goroutine.
func (ra *readAhead) run(read func([]byte) (int, error)) {
	defer close(ra.done)
	defer close(ra.filled)
	for i := range ra.free {
		p := &ra.pkts[i]
		n, err := read(p.buf[:])
		if err != nil {
			ra.err = err
			return
		}
		p.n, p.at = n, time.Now()
		ra.filled <- i
	}
}

// next waits for a packet and returns the slots of it and of every packet
// read after it so far; ok is false once the reader has stopped and every
// packet has been handed out.
func (ra *readAhead) next() (slots []int, ok bool) {
	i, ok := <-ra.filled
	if !ok {
		return nil, false
	}
	ra.group[0] = i
	n := 1
	for ; n < readAheadSize; n++ {
		select {
		case i, ok := <-ra.filled:
			if !ok {
				return ra.group[:n], true
			}
			ra.group[n] = i
		default:
			return ra.group[:n], true
		}
	}
	return ra.group[:n], true
}

// release gives slots back to the reader.
func (ra *readAhead) release(slots []int) {
	for _, i := range slots {
		ra.free <- i
	}
}

// wait joins the reader, which has stopped once next reports !ok.
func (ra *readAhead) wait() {
	<-ra.done
}
