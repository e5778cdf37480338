package loadbot

import "testing"

// TestSharesCoverEveryBotOnce protects the merged report's promise that
// every bot is run, and counted, exactly once.
func TestSharesCoverEveryBotOnce(t *testing.T) {
	for _, split := range []string{SplitRooms, SplitBots} {
		for agents := 1; agents <= 5; agents++ {
			counts := make([]int, agents)
			for room := 0; room < 7; room++ {
				for _, r := range []role{rolePublisher, roleSubscriber} {
					for i := 0; i < 9; i++ {
						owners := 0
						for a := 0; a < agents; a++ {
							if (Share{Index: a, Of: agents, Split: split}).Owns(room, r, i) {
								owners++
								counts[a]++
								if r == rolePublisher && a != (Share{Of: agents}).HomeAgent(room) {
									t.Fatalf("%s/%d: room %d's publisher not on its home agent", split, agents, room)
								}
							}
						}
						if owners != 1 {
							t.Fatalf("%s/%d agents: room %d role %d bot %d has %d owners", split, agents, room, r, i, owners)
						}
					}
				}
			}
			if split == SplitBots {
				for a, c := range counts {
					if c < 7*18/agents-9 {
						t.Errorf("%s/%d agents: agent %d runs only %d of %d bots", split, agents, a, c, 7*18)
					}
				}
			}
		}
	}
	if (Share{Index: 2, Of: 2, Split: SplitRooms}).Validate() == nil || (Share{Index: 0, Of: 2, Split: "x"}).Validate() == nil {
		t.Fatal("bad shares accepted")
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"ws://host:7880":          "ws://host:7880/rtc",
		"ws://host:7880/":         "ws://host:7880/rtc",
		"wss://sfu.example/rtc":   "wss://sfu.example/rtc",
		"https://sfu.example":     "wss://sfu.example/rtc",
		"ws://host:7880/sfu/rtc":  "ws://host:7880/sfu/rtc",
		"http://127.0.0.1:7880/x": "ws://127.0.0.1:7880/x",
	} {
		got, err := NormalizeURL(in)
		if err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:7880", "ftp://h/rtc", "ws:///rtc"} {
		if _, err := NormalizeURL(bad); err == nil {
			t.Errorf("NormalizeURL(%q) accepted", bad)
		}
	}
}
