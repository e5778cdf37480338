package report

import (
	"fmt"
	"time"

	"github.com/surgertc/surge/loadbot/stats"
)

var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// trackSnapshot runs a real TrackStats over 10 s of 30 fps video (3
// packets a frame) with a fixed one-way delay, dropping every dropEvery-th
// packet (0: none), on the given layer.
func trackSnapshot(delay time.Duration, dropEvery int, layer string) stats.Snapshot {
	ts := stats.NewTrackStats(stats.KindVideo, 90000, stats.WithStart(start))
	now := start.Add(300 * time.Millisecond)
	for i := 0; i < 900; i++ {
		if dropEvery > 0 && i%dropEvery == dropEvery-1 {
			continue
		}
		f := i / 3
		capture := now.Add(time.Duration(f) * time.Second / 30)
		ts.OnPacket(stats.PacketInfo{
			SequenceNumber: uint16(i), Timestamp: uint32(f * 3000), Marker: i%3 == 2, PayloadLen: 1100,
			CaptureTime: capture, Keyframe: i == 0, KeyframeWidth: 640, KeyframeHeight: 360, Layer: layer,
		}, capture.Add(delay))
	}
	ts.AddNACKs(2)
	ts.AddPLI()
	ts.Finish(start.Add(11 * time.Second))
	return ts.Snapshot()
}

func sampleInput() Input {
	in := Input{
		Scenario: Scenario{Mode: "run", URL: "wss://sfu.example/rtc", Rooms: 2, Publishers: 1, Subscribers: 3,
			DurationS: 10, JoinRate: 5, Simulcast: true, ShapedShare: 0.25, DownlinkKbps: 500, SRTP: true},
		StartedAt:  start,
		EndedAt:    start.Add(11 * time.Second),
		TargetBots: 8,
		SFU: SFUInput{
			Scraped: true, GOMAXPROCS: 4,
			Samples: []SFUSample{
				{At: start, CPUSeconds: 100},
				{At: start.Add(5 * time.Second), CPUSeconds: 105},
				{At: start.Add(10 * time.Second), CPUSeconds: 115},
			},
			ForwardLatencyMs: P50P99{P50: 0.2, P99: 1.5},
			Dropped:          map[string]float64{"slow_subscriber": 12},
		},
		Loadbot: LoadbotInput{CPUCores: 1.9, Cores: 2},
		SLO:     SLO{MaxP99LatencyMs: 200, MaxLossPct: 1, MaxJoinFailurePct: 5},
	}
	for r := 0; r < 2; r++ {
		room := RoomInput{Name: fmt.Sprintf("room-%d", r)}
		room.Bots = append(room.Bots, BotInput{ID: fmt.Sprintf("r%d-pub", r), Publisher: true,
			Join: stats.JoinTiming{WSOpen: 20 * time.Millisecond, Joined: 50 * time.Millisecond, ICEConnected: 180 * time.Millisecond}})
		for s := 0; s < 3; s++ {
			b := BotInput{ID: fmt.Sprintf("r%d-sub%d", r, s), Shaped: s == 2,
				Join: stats.JoinTiming{WSOpen: 20 * time.Millisecond, Joined: 60 * time.Millisecond,
					ICEConnected: time.Duration(200+40*s) * time.Millisecond, FirstMedia: 300 * time.Millisecond}}
			if r == 1 && s == 2 {
				b.JoinFailure = stats.FailICETimeout
				b.Join = stats.JoinTiming{WSOpen: 20 * time.Millisecond}
			} else {
				layer, drop := "f", 0
				if s == 2 {
					layer, drop = "q", 50
				}
				b.Tracks = []stats.Snapshot{trackSnapshot(time.Duration(30+10*s)*time.Millisecond, drop, layer)}
			}
			room.Bots = append(room.Bots, b)
		}
		in.Rooms = append(in.Rooms, room)
	}
	var agg stats.Aggregate
	for _, room := range in.Rooms {
		for _, b := range room.Bots {
			for i := range b.Tracks {
				agg.Add(&b.Tracks[i])
			}
		}
	}
	for i := 1; i <= 5; i++ {
		in.Timeline = append(in.Timeline, NewPoint(time.Duration(i)*2*time.Second, 7, &agg, 1.5+float64(i)/10))
		for r := range in.Rooms {
			in.Rooms[r].Timeline = append(in.Rooms[r].Timeline, NewRoomPoint(time.Duration(i)*2*time.Second, &agg))
		}
	}
	return in
}
