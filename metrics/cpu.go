package metrics

import "time"

// CPUSampler turns this process's cumulative CPU time into cores used over
// the interval between samples. Loadbot uses it to show that it is not
// itself the bottleneck of a capacity test. It is not safe for concurrent
// use; one owner samples it on a ticker.
type CPUSampler struct {
	read    func() (float64, error)
	lastCPU float64
	lastAt  time.Time
}

// NewCPUSampler takes the first sample at now. It fails with
// ErrCPUUnsupported where the CPU time cannot be read.
func NewCPUSampler(now time.Time) (*CPUSampler, error) {
	return newCPUSampler(processCPUSeconds, now)
}

func newCPUSampler(read func() (float64, error), now time.Time) (*CPUSampler, error) {
	cpu, err := read()
	if err != nil {
		return nil, err
	}
	return &CPUSampler{read: read, lastCPU: cpu, lastAt: now}, nil
}

// Sample returns the cores this process used, on average, between the
// previous sample and now (user + system time / wall time; 1.5 means one and
// a half cores busy). A failed read or a now not after the previous sample
// returns 0 and keeps the previous sample, so the next interval is still
// measured correctly.
func (s *CPUSampler) Sample(now time.Time) (coresUsed float64) {
	cpu, err := s.read()
	if err != nil {
		return 0
	}
	cores, ok := CoresUsed(s.lastCPU, cpu, now.Sub(s.lastAt))
	if !ok {
		return 0
	}
	s.lastCPU, s.lastAt = cpu, now
	return cores
}

// CoresUsed is the average number of cores busy while a cumulative CPU-time
// counter went from cpu0 to cpu1 seconds over wall time elapsed. ok is false
// when the answer would be meaningless: no time passed, or the counter went
// backwards (the process restarted between two scrapes).
func CoresUsed(cpu0, cpu1 float64, elapsed time.Duration) (cores float64, ok bool) {
	if elapsed <= 0 || cpu1 < cpu0 {
		return 0, false
	}
	return (cpu1 - cpu0) / elapsed.Seconds(), true
}
