package turn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestFrameLen(t *testing.T) {
	stun := func(n uint16) []byte { b := []byte{0x00, 0x01, 0, 0}; binary.BigEndian.PutUint16(b[2:], n); return b }
	chdata := func(n uint16) []byte { b := []byte{0x40, 0x00, 0, 0}; binary.BigEndian.PutUint16(b[2:], n); return b }
	for _, tc := range []struct {
		name string
		hdr  []byte
		want int
	}{
		{"STUN without attributes", stun(0), 20},
		{"STUN with attributes", stun(48), 68},
		{"STUN length not a multiple of 4", stun(5), -1},
		{"ChannelData, padded over TCP", chdata(5), 12},
		{"ChannelData, aligned", chdata(100), 104},
		{"ChannelData beyond the frame limit", chdata(2000), -1},
		{"STUN beyond the frame limit", stun(0xFFFC), -1},
		{"neither", []byte{0x80, 0, 0, 0}, -1},
		{"TLS ClientHello on the TCP port", []byte{0x16, 0x03, 0x01, 0x02}, -1},
	} {
		n, err := frameLen(tc.hdr)
		if tc.want < 0 {
			if !errors.Is(err, errBadFrame) {
				t.Errorf("%s: frameLen = %d, %v; want errBadFrame", tc.name, n, err)
			}
			continue
		}
		if err != nil || n != tc.want {
			t.Errorf("%s: frameLen = %d, %v; want %d", tc.name, n, err, tc.want)
		}
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{0x40, 0x00, 0x00, 0x03, 'a', 'b', 'c', 0})
	f.Add([]byte{0x40, 0x00, 0xFF, 0xFF})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		buf := make([]byte, maxFrame)
		r := bytes.NewReader(data)
		total := 0
		for {
			frame, err := readFrame(r, buf)
			if err != nil {
				return
			}
			if len(frame) > maxFrame || len(frame) < 4 || len(frame)%4 != 0 {
				t.Fatalf("frame of %d bytes", len(frame))
			}
			total += len(frame)
			if total > len(data) {
				t.Fatalf("read %d bytes of frames from %d bytes", total, len(data))
			}
		}
	})
}
