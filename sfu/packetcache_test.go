package sfu

import (
	"bytes"
	"testing"

	"github.com/surgertc/surge/simulcast"
)

func TestPacketCacheEvictsByWrap(t *testing.T) {
	c := newPacketCache(64)
	pkt := func(seq uint16) []byte { return []byte{byte(seq >> 8), byte(seq), 0xAA} }
	for seq := uint16(65500); seq != 100; seq++ { // crosses the 16-bit wrap
		c.store(seq, pkt(seq), &simulcast.Meta{PictureID: seq}, 1)
	}
	dst := make([]byte, maxPacketSize)
	var m simulcast.Meta
	if n := c.load(99, dst, &m, 0); n == 0 || !bytes.Equal(dst[:n], pkt(99)) {
		t.Fatalf("recent packet 99 not returned intact: %x", dst[:n])
	}
	if m.PictureID != 99 {
		t.Fatalf("packet 99 came back with the Meta of %d: its retransmission would be rewritten wrong", m.PictureID)
	}
	if n := c.load(100-64, dst, &m, 0); n == 0 {
		t.Fatal("oldest packet still in the window was evicted")
	}
	if n := c.load(100-65, dst, &m, 0); n != 0 {
		t.Fatal("packet outside the window returned: a NACK would get the wrong payload")
	}
	if n := c.load(65500, dst, &m, 0); n != 0 {
		t.Fatal("evicted packet returned")
	}
}

func TestPacketCacheRefusesStalePackets(t *testing.T) {
	c := newPacketCache(64)
	var m simulcast.Meta
	c.store(7, []byte{1, 2, 3}, &m, 1000)
	dst := make([]byte, maxPacketSize)
	if n := c.load(7, dst, &m, 1001); n != 0 {
		t.Fatal("a packet older than the NACK age limit was returned for retransmission")
	}
	if n := c.load(7, dst, &m, 1000); n != 3 {
		t.Fatal("a packet within the age limit was not returned")
	}
}

func TestPacketCacheRejectsOversized(t *testing.T) {
	c := newPacketCache(64)
	var m simulcast.Meta
	c.store(1, make([]byte, maxPacketSize+1), &m, 1)
	if n := c.load(1, make([]byte, 2*maxPacketSize), &m, 0); n != 0 {
		t.Fatal("oversized packet cached")
	}
}

func BenchmarkPacketCacheStoreLoad(b *testing.B) {
	c := newPacketCache(1024)
	pkt := make([]byte, 1200)
	dst := make([]byte, maxPacketSize)
	var m simulcast.Meta
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.store(uint16(i), pkt, &m, int64(i))
		c.load(uint16(i), dst, &m, 0)
	}
}
