package sfu

import (
	"bytes"
	"testing"
)

func TestPacketCacheEvictsByWrap(t *testing.T) {
	c := newPacketCache(64)
	pkt := func(seq uint16) []byte { return []byte{byte(seq >> 8), byte(seq), 0xAA} }
	for seq := uint16(65500); seq != 100; seq++ { // crosses the 16-bit wrap
		c.store(seq, pkt(seq))
	}
	dst := make([]byte, maxPacketSize)
	if n := c.load(99, dst); n == 0 || !bytes.Equal(dst[:n], pkt(99)) {
		t.Fatalf("recent packet 99 not returned intact: %x", dst[:n])
	}
	if n := c.load(100-64, dst); n == 0 {
		t.Fatal("oldest packet still in the window was evicted")
	}
	if n := c.load(100-65, dst); n != 0 {
		t.Fatal("packet outside the window returned: a NACK would get the wrong payload")
	}
	if n := c.load(65500, dst); n != 0 {
		t.Fatal("evicted packet returned")
	}
}

func TestPacketCacheRejectsOversized(t *testing.T) {
	c := newPacketCache(64)
	c.store(1, make([]byte, maxPacketSize+1))
	if n := c.load(1, make([]byte, 2*maxPacketSize)); n != 0 {
		t.Fatal("oversized packet cached")
	}
}

func BenchmarkPacketCacheStoreLoad(b *testing.B) {
	c := newPacketCache(1024)
	pkt := make([]byte, 1200)
	dst := make([]byte, maxPacketSize)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.store(uint16(i), pkt)
		c.load(uint16(i), dst)
	}
}
