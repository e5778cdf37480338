package report

import (
	"reflect"
	"testing"
)

func TestEvaluate(t *testing.T) {
	base := Summary{
		Bots:      Bots{Target: 100, Connected: 98, Failed: 2},
		JoinMs:    P50P95P99{P99: 900},
		LatencyMs: Latency{P99: 150},
		LossPct:   0.5,
		JitterMs:  8,
		Freezes:   Freezes{PerMin: 0.2},
		SFU:       SFU{Scraped: true, CPUHeadroomPct: 30},
	}
	tests := []struct {
		name    string
		slo     SLO
		mod     func(*Summary)
		want    []string
		passing bool
	}{
		{name: "no limits", slo: SLO{}, passing: true},
		{name: "all within", slo: SLO{MaxP99LatencyMs: 200, MaxLossPct: 1, MaxJoinFailurePct: 5, MaxFreezesPerMin: 1,
			MaxJitterMs: 30, MaxP99JoinMs: 2000, MinSFUCPUHeadroomPct: 20}, passing: true},
		{name: "at the limit holds", slo: SLO{MaxP99LatencyMs: 150, MaxLossPct: 0.5, MaxJoinFailurePct: 2}, passing: true},
		{name: "latency", slo: SLO{MaxP99LatencyMs: 100}, want: []string{BreachP99Latency}},
		{name: "loss", slo: SLO{MaxLossPct: 0.1}, want: []string{BreachLoss}},
		{name: "join failures", slo: SLO{MaxJoinFailurePct: 1}, want: []string{BreachJoinFailure}},
		{name: "freezes", slo: SLO{MaxFreezesPerMin: 0.1}, want: []string{BreachFreezes}},
		{name: "jitter", slo: SLO{MaxJitterMs: 5}, want: []string{BreachJitter}},
		{name: "join time", slo: SLO{MaxP99JoinMs: 500}, want: []string{BreachP99Join}},
		{name: "sfu headroom", slo: SLO{MinSFUCPUHeadroomPct: 40}, want: []string{BreachSFUCPUHeadroom}},
		{name: "headroom unchecked without scrape", slo: SLO{MinSFUCPUHeadroomPct: 40},
			mod: func(s *Summary) { s.SFU.Scraped = false }, passing: true},
		{name: "no bot joined", slo: SLO{MaxJoinFailurePct: 5},
			mod: func(s *Summary) { s.Bots = Bots{Target: 10, Failed: 10} }, want: []string{BreachJoinFailure}},
		{name: "several, in a stable order", slo: SLO{MaxP99LatencyMs: 100, MaxLossPct: 0.1, MaxFreezesPerMin: 0.1},
			want: []string{BreachP99Latency, BreachLoss, BreachFreezes}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			if tt.mod != nil {
				tt.mod(&s)
			}
			passed, breaches := Evaluate(tt.slo, s)
			if breaches == nil {
				t.Fatal("breaches must not be nil")
			}
			names := []string{}
			for _, b := range breaches {
				names = append(names, b.Name)
				if b.Threshold <= 0 {
					t.Errorf("breach %s without threshold", b.Name)
				}
			}
			if tt.want == nil {
				tt.want = []string{}
			}
			if passed != tt.passing || !reflect.DeepEqual(names, tt.want) {
				t.Fatalf("passed=%v breaches=%v, want %v %v", passed, names, tt.passing, tt.want)
			}
		})
	}
	_, b := Evaluate(SLO{MaxP99LatencyMs: 100}, base)
	if b[0] != (Breach{Name: BreachP99Latency, Threshold: 100, Actual: 150}) {
		t.Fatalf("breach = %+v", b[0])
	}
}

func TestCapacity(t *testing.T) {
	step := func(n int, passed bool) Step {
		return Step{Step: n, Rooms: n, Subscribers: 10, Bots: n * 11, Passed: passed}
	}
	tests := []struct {
		name   string
		steps  []Step
		want   CapacityStep
		wantOK bool
	}{
		{"no steps", nil, CapacityStep{}, false},
		{"first step broke", []Step{step(1, false)}, CapacityStep{UpperBots: 11}, false},
		{"all held", []Step{step(1, true), step(2, true)}, CapacityStep{Step: 2, Bots: 22, Rooms: 2, Subscribers: 10}, true},
		{"broke at 3", []Step{step(1, true), step(2, true), step(3, false)}, CapacityStep{Step: 2, Bots: 22, Rooms: 2, Subscribers: 10, UpperBots: 33}, true},
		// A step that holds after a broken one is noise, not capacity.
		{"held again after breaking", []Step{step(1, true), step(2, false), step(3, true)}, CapacityStep{Step: 1, Bots: 11, Rooms: 1, Subscribers: 10, UpperBots: 22}, true},
		// Bisect steps come after the ramp's breach, at loads in between.
		{"bisected up", []Step{step(1, true), step(3, false), {Step: 3, Bots: 22, Rooms: 2, Subscribers: 10, Passed: true}},
			CapacityStep{Step: 3, Bots: 22, Rooms: 2, Subscribers: 10, UpperBots: 33}, true},
		{"bisected down", []Step{step(2, true), step(4, false), {Step: 3, Bots: 33, Rooms: 3, Subscribers: 10}},
			CapacityStep{Step: 2, Bots: 22, Rooms: 2, Subscribers: 10, UpperBots: 33}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Capacity(tt.steps)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("Capacity = %+v %v, want %+v %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestNextStep(t *testing.T) {
	ramp := Ramp{Start: Load{Rooms: 1, Publishers: 2, Subscribers: 10}, Add: Load{Rooms: 1}, MaxBots: 50}
	held := func(n int) []Step {
		s := make([]Step, n)
		for i := range s {
			s[i] = Step{Step: i + 1, Passed: true}
		}
		return s
	}
	tests := []struct {
		name     string
		ramp     Ramp
		steps    []Step
		want     Decision
		wantLoad Load
	}{
		{"first step is Start", ramp, nil, Continue, ramp.Start},
		{"grows by Add", ramp, held(2), Continue, Load{Rooms: 3, Publishers: 2, Subscribers: 10}},
		{"stops when the last step broke", ramp, append(held(1), Step{Step: 2}), StopSLO, Load{}},
		{"stops before passing MaxBots", ramp, held(4), StopMax, Load{}}, // 5 rooms × 12 = 60 > 50
		{"MaxBots reached exactly continues", Ramp{Start: ramp.Start, Add: ramp.Add, MaxBots: 48}, held(3), Continue,
			Load{Rooms: 4, Publishers: 2, Subscribers: 10}},
		{"stops at MaxSteps", Ramp{Start: ramp.Start, Add: ramp.Add, MaxSteps: 3}, held(3), StopMax, Load{}},
		{"a ramp that cannot grow stops", Ramp{Start: ramp.Start}, held(1), StopMax, Load{}},
		{"grows subscribers per room", Ramp{Start: ramp.Start, Add: Load{Subscribers: 5}}, held(2), Continue,
			Load{Rooms: 1, Publishers: 2, Subscribers: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, l := NextStep(tt.ramp, tt.steps)
			if d != tt.want || l != tt.wantLoad {
				t.Fatalf("NextStep = %v %+v, want %v %+v", d, l, tt.want, tt.wantLoad)
			}
		})
	}
}

func TestNewStepCopiesVerdict(t *testing.T) {
	s := Summary{Bots: Bots{Target: 40, Failed: 2}, LatencyMs: Latency{P99: 120}, LossPct: 0.3,
		Freezes: Freezes{Count: 4}, SFU: SFU{CPUCores: 2.5},
		SLO: Verdict{Passed: false, Breaches: []Breach{{Name: BreachLoss, Threshold: 0.1, Actual: 0.3}}}}
	st := NewStep(3, Load{Rooms: 4, Publishers: 1, Subscribers: 9}, s)
	want := Step{Step: 3, Phase: PhaseRamp, Rooms: 4, Publishers: 1, Subscribers: 9, Bots: 40, LatencyMs: Latency{P99: 120}, LossPct: 0.3,
		JoinFailurePct: 5, Freezes: 4, SFUCPUCores: 2.5, Breaches: s.SLO.Breaches}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("step = %+v\nwant %+v", st, want)
	}
	s.SLO.Breaches[0].Name = "mutated"
	if st.Breaches[0].Name != BreachLoss {
		t.Fatal("step must not share the summary's breach slice")
	}
}

func TestBisect(t *testing.T) {
	tests := []struct {
		name      string
		good, bad Load
		want      Load
		ok        bool
	}{
		{"subscribers halve", Load{1, 1, 10}, Load{1, 1, 20}, Load{1, 1, 15}, true},
		{"rooms halve", Load{2, 1, 5}, Load{6, 1, 5}, Load{4, 1, 5}, true},
		{"one unit apart: done", Load{1, 1, 14}, Load{1, 1, 15}, Load{}, false},
		{"rounds down", Load{1, 1, 10}, Load{1, 1, 13}, Load{1, 1, 11}, true},
		{"one room apart: done", Load{3, 1, 5}, Load{4, 1, 5}, Load{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Bisect(tt.good, tt.bad)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Bisect = %+v %v, want %+v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	// Repeated bisection narrows any gap to one unit within log2(gap) steps.
	good, bad := Load{1, 1, 3}, Load{1, 1, 40}
	for i := 0; i < 10; i++ {
		mid, ok := Bisect(good, bad)
		if !ok {
			break
		}
		if mid.Subscribers < 21 {
			good = mid
		} else {
			bad = mid
		}
	}
	if good.Subscribers != 20 || bad.Subscribers != 21 {
		t.Fatalf("bisection ended at %d..%d, want 20..21", good.Subscribers, bad.Subscribers)
	}
}

func TestFitCPU(t *testing.T) {
	steps := []Step{
		{Rooms: 1, Subscribers: 10, SFUCPUCores: 0.3, SFUScraped: true},
		{Rooms: 1, Subscribers: 20, SFUCPUCores: 0.5, SFUScraped: true},
		{Rooms: 1, Subscribers: 30, SFUCPUCores: 0.7, SFUScraped: true},
		{Rooms: 1, Subscribers: 40, SFUCPUCores: 9, SFUScraped: false}, // not scraped: ignored
	}
	f := FitCPU(steps, 2)
	if f == nil || f.Points != 3 || !near(f.SlopeCores, 0.02, 1e-9) || !near(f.InterceptCores, 0.1, 1e-9) {
		t.Fatalf("fit = %+v", f)
	}
	// 0.8 × 2 cores = 1.6 = 0.1 + 0.02 × 75.
	if !near(f.ProjectedSubscribers, 75, 1e-9) {
		t.Fatalf("projected %v, want 75", f.ProjectedSubscribers)
	}
	if FitCPU(steps[:1], 2) != nil || FitCPU(steps, 0) != nil {
		t.Fatal("one point or unknown cores cannot be fitted")
	}
	flat := []Step{{Rooms: 1, Subscribers: 10, SFUCPUCores: 0.5, SFUScraped: true}, {Rooms: 1, Subscribers: 20, SFUCPUCores: 0.4, SFUScraped: true}}
	if f := FitCPU(flat, 2); f == nil || f.ProjectedSubscribers != 0 {
		t.Fatalf("CPU falling with load cannot project: %+v", f)
	}
}
