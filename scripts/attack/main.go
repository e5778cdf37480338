// Command attack replays issue 15's media attacks against a running surge
// on loopback with one client for every revision (package loadbot/attack):
// a publisher streams 1 Mbit/s of VP8 to a healthy subscriber while a
// second subscriber runs a NACK storm, then the publisher's own socket
// floods the server with spoofed SRTP. The server's /metrics say what each
// cost. See scripts/attack.sh.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/surgertc/surge/loadbot/attack"
)

func main() {
	url := flag.String("url", "ws://127.0.0.1:7880/rtc", "signaling URL (loopback only)")
	admin := flag.String("admin", "http://127.0.0.1:7881", "admin URL, for /metrics")
	spoof := flag.Int("spoof", 100_000, "spoofed SRTP packets to send from the publisher's address")
	storm := flag.Duration("storm", 10*time.Second, "NACK storm duration")
	rate := flag.Int("nack-rate", 1000, "NACK packets per second")
	flag.Parse()
	if !strings.HasPrefix(*admin, "http://127.") {
		fail(attack.ErrNotLoopback)
	}
	ctx := context.Background()
	t := attack.Target{URL: *url}
	room := fmt.Sprintf("attack-%d", time.Now().UnixNano())
	pub, err := attack.Join(ctx, t, room, "publisher", true)
	if err != nil {
		fail(err)
	}
	defer pub.Close()
	sub, err := attack.Join(ctx, t, room, "subscriber", false)
	if err != nil {
		fail(err)
	}
	defer sub.Close()
	track, err := pub.Publish()
	if err != nil {
		fail(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); attack.Pump(track, stop) }()
	defer func() { close(stop); <-done }()
	if err := attack.WaitFor(20*time.Second, func() bool { return sub.Packets.Load() > 100 }); err != nil {
		fail(fmt.Errorf("healthy subscriber: %w", err))
	}
	nacker, err := attack.Join(ctx, t, room, "nacker", false)
	if err != nil {
		fail(err)
	}
	defer nacker.Close()
	if err := attack.WaitFor(20*time.Second, func() bool { return nacker.Packets.Load() > 100 }); err != nil {
		fail(fmt.Errorf("nacker: %w", err))
	}

	res := map[string]any{}
	// The media alone over a window as long as the storm, then the storm.
	m0 := metrics(*admin)
	b0 := nacker.Bytes.Load()
	time.Sleep(*storm)
	media := nacker.Bytes.Load() - b0
	m1 := metrics(*admin)
	rtcpBytes, received, err := nacker.NACKStorm(ctx, *storm, *rate)
	if err != nil {
		fail(err)
	}
	m2 := metrics(*admin)
	serverMedia := m1["surge_bytes_sent_total"] - m0["surge_bytes_sent_total"]
	serverExtra := (m2["surge_bytes_sent_total"] - m1["surge_bytes_sent_total"]) - serverMedia
	res["nack_rtcp_bytes_sent"] = rtcpBytes
	res["nack_media_bytes_to_nacker_same_window"] = media
	res["nack_bytes_to_nacker_over_media"] = received - media
	res["nack_answered"] = m2["surge_nack_answered_total"] - m1["surge_nack_answered_total"]
	res["nack_server_extra_bytes_sent"] = serverExtra
	res["nack_cpu_seconds"] = m2["process_cpu_seconds_total"] - m1["process_cpu_seconds_total"]
	res["nack_media_cpu_seconds_same_window"] = m1["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]
	if rtcpBytes > 0 {
		res["nack_amplification"] = serverExtra / float64(rtcpBytes)
	}

	heap0 := heap(*admin)
	m3 := metrics(*admin)
	if err := pub.SpoofFlood(ctx, *spoof, 15); err != nil {
		fail(err)
	}
	time.Sleep(3 * time.Second)
	heap1 := heap(*admin)
	m4 := metrics(*admin)
	res["spoof_packets"] = *spoof
	res["spoof_heap_growth_bytes"] = heap1 - heap0
	res["spoof_cpu_seconds"] = m4["process_cpu_seconds_total"] - m3["process_cpu_seconds_total"]
	res["healthy_received"], res["healthy_lost"] = sub.Packets.Load(), sub.Lost.Load()
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "attack:", err)
	os.Exit(1)
}

// metrics reads the server's samples, summed over labels.
func metrics(admin string) map[string]float64 {
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		fail(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, _ := strconv.ParseFloat(strings.TrimSpace(val), 64)
		out[name] += v
	}
	return out
}

// heap is the server's live heap after a GC (pprof's heap?gc=1 runs one).
func heap(admin string) float64 {
	if resp, err := http.Get(admin + "/debug/pprof/heap?gc=1"); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	return metrics(admin)["go_memstats_heap_alloc_bytes"]
}
