package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// splitInput deals the sample's bots over two processes the way a
// coordinated run with split "bots" would: room-0 whole to A, room-1's
// subscribers shared between A and B.
func splitInput() (full, a, b Input) {
	full = sampleInput()
	a, b = full, full
	a.Rooms, b.Rooms = nil, nil
	a.Scenario.InstanceID, b.Scenario.InstanceID = "A", "B"
	a.TargetBots, b.TargetBots = 6, 2
	a.Loadbot.CPUCores, b.Loadbot.CPUCores = 0.5, 0.25
	b.SFU = SFUInput{}
	a.Rooms = append(a.Rooms, full.Rooms[0], RoomInput{Name: "room-1", Bots: full.Rooms[1].Bots[:2]})
	b.Rooms = append(b.Rooms, RoomInput{Name: "room-1", Bots: full.Rooms[1].Bots[2:]})
	return full, a, b
}

// roundTrip passes a report through its JSON form, as `loadbot merge`
// reads it from files.
func roundTrip(t *testing.T, r Report) Report {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, &r); err != nil {
		t.Fatal(err)
	}
	var out Report
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMergeEqualsOneProcess(t *testing.T) {
	full, a, b := splitInput()
	want := Build(full)
	got, err := Merge([]Report{roundTrip(t, Build(a)), roundTrip(t, Build(b))}, []string{"a.json", "b.json"})
	if err != nil {
		t.Fatal(err)
	}
	ws, gs := want.Summary, got.Summary
	// Every media figure is recomputed from the merged raw data: the same
	// as one process computing it, not an average of percentiles.
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"bots", gs.Bots, ws.Bots}, {"join failures", gs.JoinFailures, ws.JoinFailures},
		{"latency", gs.LatencyMs, ws.LatencyMs}, {"loss", gs.LossPct, ws.LossPct},
		{"jitter", gs.JitterMs, ws.JitterMs}, {"freezes", gs.Freezes, ws.Freezes},
		{"layers", gs.Layers, ws.Layers}, {"bitrate", gs.BitrateKbps, ws.BitrateKbps},
		{"join ms", gs.JoinMs, ws.JoinMs}, {"ttff", gs.TimeToFirstFrameMs, ws.TimeToFirstFrameMs},
		{"nacks", gs.NACKsSent, ws.NACKsSent}, {"sfu", gs.SFU, ws.SFU}, {"verdict", gs.SLO, ws.SLO},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: merged %+v, one process %+v", c.name, c.got, c.want)
		}
	}
	if gs.Loadbot.CPUCores != 0.75 {
		t.Errorf("loadbot CPU must add up over processes: %v", gs.Loadbot.CPUCores)
	}
	if len(got.Rooms) != 2 || got.Rooms[1].Subscribers != 3 || len(got.Rooms[1].Bots) != 4 ||
		got.Rooms[1].LatencyMs != want.Rooms[1].LatencyMs {
		t.Errorf("room-1 must be one room again: %+v", got.Rooms[1])
	}
	if len(got.Agents) != 2 || got.Agents[0].ID != "A" || got.Agents[1].Summary == nil || got.Agents[1].Bots != 2 {
		t.Errorf("agents: %+v", got.Agents)
	}
	// Both timelines cover the same seconds: the bots add up.
	if len(got.Timeline) != len(want.Timeline) || got.Timeline[0].Bots != 2*want.Timeline[0].Bots {
		t.Errorf("timeline: %+v", got.Timeline)
	}
}

func TestMergeRefusesABotTwice(t *testing.T) {
	r := roundTrip(t, Build(sampleInput()))
	_, err := Merge([]Report{r, r}, []string{"a.json", "a.json"})
	if err == nil || !strings.Contains(err.Error(), "r0-pub") {
		t.Fatalf("merging a report with itself: %v", err)
	}
}

func TestMergeRefusesRampsAndOldReports(t *testing.T) {
	ramp := rampReport()
	if _, err := Merge([]Report{ramp}, nil); err == nil {
		t.Error("a ramp was merged")
	}
	old := Build(sampleInput())
	old.Rooms[0].Raw = nil
	if _, err := Merge([]Report{old}, nil); err == nil {
		t.Error("a report without raw data was merged")
	}
}

func TestLostAgentIsReported(t *testing.T) {
	r := withLostB(t)
	s := r.Summary
	if !r.Partial || s.Bots.Lost != 2 || s.Bots.Target != 8 || s.Bots.Connected+s.Bots.Failed != 6 {
		t.Fatalf("partial=%v bots=%+v", r.Partial, s.Bots)
	}
	if len(r.Agents) != 2 || r.Agents[1].Status != AgentLost || len(r.Warnings) == 0 || !strings.Contains(r.Warnings[len(r.Warnings)-1], "agent B on h2 was lost") {
		t.Fatalf("agents %+v warnings %q", r.Agents, r.Warnings)
	}
}

func TestLatencyClockNotes(t *testing.T) {
	in := sampleInput()
	in.Rooms[1].Clock = RoomClock{Source: ClockAbsent, Note: "publishers on h1, subscribers on h2: no shared clock"}
	r := Build(in)
	if r.Rooms[1].LatencyClock != ClockAbsent || r.Rooms[0].LatencyClock != ClockSameProcess ||
		!strings.Contains(r.Summary.LatencyNote, "no shared clock") {
		t.Fatalf("rooms %q %q, note %q", r.Rooms[0].LatencyClock, r.Rooms[1].LatencyClock, r.Summary.LatencyNote)
	}
	if combineClock(ClockSameProcess, ClockAbsent) != ClockPartial || combineClock(ClockSameHost, ClockMeasured) != ClockMeasured {
		t.Fatal("combineClock")
	}
}

func TestTableShowsAgentsAndLostBots(t *testing.T) {
	r := withLostB(t)
	var buf bytes.Buffer
	if err := WriteTable(&buf, &r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 lost with their agent", "agent", " B ", "lost", "h2"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}

// withLostB is A's report merged alone, B lost with its 2 bots.
func withLostB(t *testing.T) Report {
	t.Helper()
	_, a, b := splitInput()
	r, err := Merge([]Report{Build(a)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddLostAgent(Agent{ID: "B", Host: "h2", Status: AgentLost, Bots: b.TargetBots}); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNaturalLess(t *testing.T) {
	names := []string{"load-10", "load-2", "load-1", "a", "load-02x", "load-2a"}
	sort.SliceStable(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })
	want := []string{"a", "load-1", "load-2", "load-2a", "load-02x", "load-10"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("%v, want %v", names, want)
	}
}
