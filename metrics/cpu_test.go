package metrics

import (
	"errors"
	"testing"
	"time"
)

// The sampler must see this process's own work: a goroutine spinning for
// ~200ms has to show up as clearly more cores than 200ms of sleeping. A
// ratio, not an absolute figure, because the machine is shared.
func TestCPUSamplerSeesBusyGoroutine(t *testing.T) {
	s, err := NewCPUSampler(time.Now())
	if errors.Is(err, ErrCPUUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	const window = 200 * time.Millisecond

	time.Sleep(window)
	idle := s.Sample(time.Now())

	done := make(chan uint64)
	go func() {
		var x uint64
		for deadline := time.Now().Add(window); time.Now().Before(deadline); {
			for i := range 1000 {
				x += uint64(i) * x
			}
		}
		done <- x
	}()
	<-done
	busy := s.Sample(time.Now())

	t.Logf("idle %.3f cores, busy %.3f cores", idle, busy)
	if busy <= 0 || busy < 3*idle {
		t.Fatalf("busy sample %.3f cores is not clearly above idle %.3f", busy, idle)
	}
}

func TestCPUSamplerSample(t *testing.T) {
	t0 := time.Unix(1000, 0)
	cpu, fail := 10.0, false
	read := func() (float64, error) {
		if fail {
			return 0, errors.New("boom")
		}
		return cpu, nil
	}
	s, err := newCPUSampler(read, t0)
	if err != nil {
		t.Fatal(err)
	}

	cpu = 13 // 3 CPU-seconds in 2 s of wall time
	if got := s.Sample(t0.Add(2 * time.Second)); got != 1.5 {
		t.Errorf("cores = %v, want 1.5", got)
	}
	if got := s.Sample(t0.Add(2 * time.Second)); got != 0 {
		t.Errorf("no time passed: cores = %v, want 0", got)
	}
	fail = true
	if got := s.Sample(t0.Add(3 * time.Second)); got != 0 {
		t.Errorf("failed read: cores = %v, want 0", got)
	}
	// The failed read kept the t+2s sample, so this interval is 2 s long.
	fail, cpu = false, 14
	if got := s.Sample(t0.Add(4 * time.Second)); got != 0.5 {
		t.Errorf("after failed read: cores = %v, want 0.5", got)
	}
}

func TestCoresUsed(t *testing.T) {
	tests := []struct {
		name       string
		cpu0, cpu1 float64
		elapsed    time.Duration
		want       float64
		ok         bool
	}{
		{"two cores busy", 5, 9, 2 * time.Second, 2, true},
		{"idle", 5, 5, time.Second, 0, true},
		{"no time passed", 5, 6, 0, 0, false},
		{"clock went back", 5, 6, -time.Second, 0, false},
		{"counter reset: process restarted", 50, 1, time.Second, 0, false},
	}
	for _, tt := range tests {
		got, ok := CoresUsed(tt.cpu0, tt.cpu1, tt.elapsed)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: CoresUsed = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
