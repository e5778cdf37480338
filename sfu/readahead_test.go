package sfu

import (
	"io"
	"strconv"
	"testing"
	"time"
)

// The read loop gets every packet that has arrived, in order, in one group
// and never more than the ring holds; the reader stops at the track's end
// and the loop sees it after the last packet.
func TestReadAheadGroupsWhatHasArrived(t *testing.T) {
	src := make(chan string, 64)
	ra := newReadAhead()
	go ra.run(func(b []byte) (int, error) {
		v, ok := <-src
		if !ok {
			return 0, io.EOF
		}
		return copy(b, v), nil
	})
	arrived := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for len(ra.filled) < n {
			if time.Now().After(deadline) {
				t.Fatalf("reader holds %d packets, want %d", len(ra.filled), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	seq := 0
	send := func(n int) {
		for i := 0; i < n; i++ {
			src <- "p" + strconv.Itoa(seq)
			seq++
		}
	}
	next := 0
	take := func(want int) {
		t.Helper()
		slots, ok := ra.next()
		if !ok {
			t.Fatal("reader stopped early")
		}
		if len(slots) != want {
			t.Fatalf("group of %d packets, want %d", len(slots), want)
		}
		for _, i := range slots {
			p := &ra.pkts[i]
			if got, w := string(p.buf[:p.n]), "p"+strconv.Itoa(next); got != w {
				t.Fatalf("got %s, want %s", got, w)
			}
			if p.at.IsZero() {
				t.Fatal("packet without its arrival time")
			}
			next++
		}
		ra.release(slots)
	}

	send(3)
	arrived(3)
	take(3)
	send(1)
	take(1) // blocks until it arrives: a group is never empty
	// More than the ring: the reader waits for slots, nothing is lost.
	send(readAheadSize + 4)
	arrived(readAheadSize)
	take(readAheadSize)
	arrived(4)
	take(4)

	send(2)
	close(src)
	arrived(2)
	take(2)
	if _, ok := ra.next(); ok {
		t.Fatal("a group after the track ended")
	}
	if ra.err != io.EOF {
		t.Fatalf("reader stopped with %v, want EOF", ra.err)
	}
	ra.wait()
}
