package sfu

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v2"
	"github.com/pion/transport/v2/replaydetector"
)

// gcmPair returns a sending context and a receiving one with replay
// protection, as the publish side's SRTP session has.
func gcmPair(t testing.TB, window uint) (local, remote *srtp.Context) {
	t.Helper()
	key, salt := make([]byte, 16), make([]byte, 12)
	for i := range key {
		key[i] = byte(i)
	}
	local, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	remote, err = srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm, srtp.SRTPReplayProtection(window))
	if err != nil {
		t.Fatal(err)
	}
	return local, remote
}

func sealedPacket(t testing.TB, local *srtp.Context, seq uint16) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 99}, Payload: make([]byte, 1000)}
	if err := p.Header.SetExtension(3, []byte{byte(seq >> 8), byte(seq)}); err != nil {
		t.Fatal(err)
	}
	if err := p.Header.SetExtension(4, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := local.EncryptRTP(nil, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Decrypting a publisher's packets (third_party/pion-srtp-v2: the replay
// window's check and the GCM nonce) allocates nothing per packet, and the
// replay window still refuses what it should.
func TestSRTPDecryptAllocatesNothing(t *testing.T) {
	local, remote := gcmPair(t, 64)
	const n = 512
	pkts := make([][]byte, n)
	for i := range pkts {
		pkts[i] = sealedPacket(t, local, uint16(65000+i)) // across a rollover
	}
	dst := make([]byte, 1500)
	var h rtp.Header
	for _, p := range pkts[:8] {
		if _, err := remote.DecryptRTP(dst, p, &h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := remote.DecryptRTP(dst, pkts[3], &h); !isDuplicate(err) {
		t.Fatalf("replayed packet: %v, want a duplicated error", err)
	}
	next := 8
	allocs := testing.AllocsPerRun(n-16, func() {
		if _, err := remote.DecryptRTP(dst, pkts[next], &h); err != nil {
			t.Fatal(err)
		}
		next++
	})
	if !raceEnabled && allocs != 0 {
		t.Errorf("%.0f allocations per decrypted packet, want 0", allocs)
	}
	if _, err := remote.DecryptRTP(dst, pkts[next-70], &h); !isDuplicate(err) {
		t.Fatalf("packet older than the window: %v, want a duplicated error", err)
	}
	if _, err := remote.DecryptRTP(dst, pkts[next+1], &h); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.DecryptRTP(dst, pkts[next], &h); err != nil { // reordered, inside the window
		t.Fatalf("reordered packet: %v", err)
	}
}

func isDuplicate(err error) bool {
	return err != nil && strings.Contains(err.Error(), "duplicated packet")
}

// The fork's replay window decides as pion/transport's does, packet for
// packet, over reordering, duplicates, jumps and windows of any size.
func TestSRTPReplayWindowMatchesPion(t *testing.T) {
	const maxSeq = 0xFFFFFFFF<<16 | 0xFFFF
	rng := rand.New(rand.NewSource(1))
	for _, window := range []uint{1, 17, 64, 65, 128, 200, 1000} {
		local, remote := gcmPair(t, window)
		ref := replaydetector.New(window, maxSeq)
		// Within one rollover, so that the reference sees the index the
		// context computes.
		seq := 2000
		sent := map[uint16][]byte{}
		dst := make([]byte, 1500)
		var order []uint16
		for len(order) < 3000 && seq < 60000 {
			switch r := rng.Intn(10); {
			case r < 6:
				seq++
			case r < 8:
				seq -= rng.Intn(int(window) + 3) // back into, or just past, the window
			default:
				seq += rng.Intn(int(window)*2 + 2) // a jump
			}
			seq = max(seq, 1)
			order = append(order, uint16(seq))
		}
		for i, s := range order {
			p, ok := sent[s]
			if !ok {
				p = sealedPacket(t, local, s)
				sent[s] = p
			}
			_, err := remote.DecryptRTP(dst, p, nil)
			accept, want := ref.Check(uint64(s))
			if want {
				accept()
			}
			if got := err == nil; got != want {
				t.Fatalf("window %d, packet %d (seq %d): accepted %v, pion's detector %v (err %v)", window, i, s, got, want, err)
			}
		}
	}
}
