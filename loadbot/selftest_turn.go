package loadbot

import (
	"fmt"
	"time"
)

// turnJoinStorm is the selftest's TURN scenario: subscribers joining one
// room at 40/s, every bot (the publisher too) forced through the SFU's TURN
// server over UDP. It passes when every bot joins over a relay: the TURN
// server takes a burst of allocations and relays the room's media.
func turnJoinStorm() selftestScenario {
	return selftestScenario{
		name: SelftestTURN,
		cfg: func(c Config) Config {
			c.Rooms, c.Publishers, c.Subscribers = 1, 1, 20
			c.Duration, c.JoinRate = 6*time.Second, 40
			c.ICETransport = ICERelayUDP
			return c
		},
		judge: func(res *Result) (bool, string, string) {
			s := res.Report.Summary
			relayed := s.Paths[ICERelayUDP]
			fig := fmt.Sprintf("%d/%d joined through TURN at 40/s, join p50 %.0f ms p99 %.0f ms, allocation p50 %.0f ms p99 %.0f ms, latency p99 %.1f ms, loss %.2f %%",
				relayed.Bots, s.Bots.Target, s.JoinMs.P50, s.JoinMs.P99, s.TURNAllocationMs.P50, s.TURNAllocationMs.P99, relayed.LatencyMs.P99, relayed.LossPct)
			switch {
			case s.Bots.Failed > 0:
				return false, fig, fmt.Sprintf("every bot must join; failures %v (turn_allocation: is turn.enabled set?)", s.JoinFailures)
			case relayed.Bots != s.Bots.Target:
				return false, fig, fmt.Sprintf("every bot must use the relay; paths %v", s.Paths)
			case relayed.LossPct > 2:
				return false, fig, "loss above 2 % through the relay"
			}
			return true, fig, ""
		},
	}
}
