package sfu

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v2"
)

// TestControllingAgentNominatesOnFirstSuccess: the SFU's agent, when
// controlling, nominates a pair as soon as its own check of it succeeds.
// Unpatched pion/ice v2 nominated a valid pair only at its next
// checkInterval tick (200 ms) unless a check from the peer arrived on the
// best pair not yet failed, and that is not the valid pair when the peer's
// checks come from an address it did not signal: its checks make a
// peer-reflexive candidate, the check of that succeeds, while the signaled
// candidate's pair is still in progress. In the selftest's join storms the
// same happened when a check beat its trickled candidate, which gave half
// the runs a 200 ms join (third_party/pion-ice-v2/README.md). The check
// interval is an hour here, so the tick is Pion's floor, 2 s
// (defaultKeepaliveInterval): without the patch the agents connect only
// then, with it within a few milliseconds.
func TestControllingAgentNominatesOnFirstSuccess(t *testing.T) {
	newAgent := func() *ice.Agent { return testICEAgent(t) }
	gather := func(a *ice.Agent) []ice.Candidate { return gatherLoopback(t, a) }
	sfu, client := newAgent(), newAgent()
	sfuCands, clientCands := gather(sfu), gather(client)
	// The SFU is told of an address the client's checks do not come from
	// (127.0.0.2, where nothing listens): as behind a NAT, or a candidate
	// still on its way. Its pair stays in progress and outranks the
	// peer-reflexive one that the client's checks create.
	signaled, err := ice.NewCandidateHost(&ice.CandidateHostConfig{
		Network: "udp", Address: "127.0.0.2", Port: clientCands[0].Port(), Component: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sfu.AddRemoteCandidate(signaled); err != nil {
		t.Fatal(err)
	}
	for _, c := range sfuCands {
		if err := client.AddRemoteCandidate(c); err != nil {
			t.Fatal(err)
		}
	}
	sfuUfrag, sfuPwd, err := sfu.GetLocalUserCredentials()
	if err != nil {
		t.Fatal(err)
	}
	clientUfrag, clientPwd, err := client.GetLocalUserCredentials()
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sfuDone := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := sfu.Dial(ctx, clientUfrag, clientPwd)
		sfuDone <- err
	}()
	if _, err := client.Accept(ctx, sfuUfrag, sfuPwd); err != nil {
		t.Fatalf("client: never nominated: %v", err)
	}
	if err := <-sfuDone; err != nil {
		t.Fatalf("SFU: %v", err)
	}
	// Not a speed target: the bound is half the tick the unpatched agent
	// waits for, and the patched one needs one loopback round trip.
	if took := time.Since(start); took >= time.Second {
		t.Fatalf("connected after %v: the SFU's agent nominated at a tick, not when its check succeeded", took)
	}
}

// testICEAgent is a loopback UDP host-only agent whose timers never fire
// during a test, configured as the SFU's where it matters.
func testICEAgent(t *testing.T) *ice.Agent {
	return testICEAgentWith(t, nil)
}

// testICEAgentWith is testICEAgent with cfg's changes.
func testICEAgentWith(t *testing.T, change func(cfg *ice.AgentConfig)) *ice.Agent {
	hour := time.Hour
	noWait := time.Duration(0)
	cfg := &ice.AgentConfig{
		PrflxAcceptanceMinWait: &noWait, // as the SFU sets it (rtc.go)
		NetworkTypes:           []ice.NetworkType{ice.NetworkTypeUDP4},
		CandidateTypes:         []ice.CandidateType{ice.CandidateTypeHost},
		IncludeLoopback:        true,
		IPFilter:               func(ip net.IP) bool { return ip.IsLoopback() },
		MulticastDNSMode:       ice.MulticastDNSModeDisabled,
		CheckInterval:          &hour,
		KeepaliveInterval:      &hour,
		DisconnectedTimeout:    &hour,
		FailedTimeout:          &hour,
	}
	if change != nil {
		change(cfg)
	}
	a, err := ice.NewAgent(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// gatherLoopback gathers a's candidates and waits for the end of gathering.
func gatherLoopback(t *testing.T, a *ice.Agent) []ice.Candidate {
	done := make(chan struct{})
	var cs []ice.Candidate
	if err := a.OnCandidate(func(c ice.Candidate) {
		if c == nil {
			close(done)
			return
		}
		cs = append(cs, c)
	}); err != nil {
		t.Fatal(err)
	}
	if err := a.GatherCandidates(); err != nil {
		t.Fatal(err)
	}
	<-done
	if len(cs) == 0 {
		t.Fatal("no loopback host candidate")
	}
	return cs
}
