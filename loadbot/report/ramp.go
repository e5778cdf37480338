package report

import "math"

// Step phases.
const (
	PhaseRamp   = "ramp"
	PhaseBisect = "bisect"
)

// Load is the size of one ramp step.
type Load struct {
	Rooms       int
	Publishers  int // per room
	Subscribers int // per room
}

// Bots returns the number of bots the load runs.
func (l Load) Bots() int { return l.Rooms * (l.Publishers + l.Subscribers) }

func (l Load) add(o Load, n int) Load {
	return Load{
		Rooms:       l.Rooms + n*o.Rooms,
		Publishers:  l.Publishers + n*o.Publishers,
		Subscribers: l.Subscribers + n*o.Subscribers,
	}
}

// Ramp is how a ramp grows: Start, then Start + n×Add at step n+1, until
// an SLO breaks or a limit is reached. Zero limits are not checked.
type Ramp struct {
	Start    Load
	Add      Load
	MaxBots  int
	MaxSteps int
}

// Decision is what the ramp does after a step.
type Decision int

// Ramp decisions.
const (
	Continue Decision = iota // run the next step
	StopSLO                  // the last step broke the SLO
	StopMax                  // the next step would pass MaxBots or MaxSteps
)

func (d Decision) String() string {
	switch d {
	case Continue:
		return "continue"
	case StopSLO:
		return "stop: SLO breached"
	case StopMax:
		return "stop: maximum reached"
	}
	return "unknown"
}

// NextStep decides, from the steps run so far, whether to run another and
// at which load. With no steps it returns Start.
func NextStep(r Ramp, steps []Step) (Decision, Load) {
	if n := len(steps); n > 0 && !steps[n-1].Passed {
		return StopSLO, Load{}
	}
	if r.MaxSteps > 0 && len(steps) >= r.MaxSteps {
		return StopMax, Load{}
	}
	next := r.Start.add(r.Add, len(steps))
	if len(steps) > 0 && next.Bots() <= r.Start.add(r.Add, len(steps)-1).Bots() {
		// A ramp that does not grow would repeat the same step forever.
		return StopMax, Load{}
	}
	if r.MaxBots > 0 && next.Bots() > r.MaxBots {
		return StopMax, Load{}
	}
	return Continue, next
}

// Capacity returns the largest load that held below the smallest load that
// broke (a step that holds above a broken one is noise, not capacity).
// ok is false when no step below the first breach held.
func Capacity(steps []Step) (c CapacityStep, ok bool) {
	upper := math.MaxInt
	for _, s := range steps {
		if !s.Passed && s.Bots < upper {
			upper = s.Bots
		}
	}
	for _, s := range steps {
		if s.Passed && s.Bots < upper && (!ok || s.Bots > c.Bots) {
			c, ok = CapacityStep{Step: s.Step, Bots: s.Bots, Rooms: s.Rooms, Subscribers: s.Subscribers}, true
		}
	}
	if upper != math.MaxInt {
		c.UpperBots = upper
	}
	return c, ok
}

// Bisect returns the load halfway between good (held) and bad (broke),
// rounded down to whole rooms and subscribers; ok is false when no load
// lies strictly between them, i.e. the capacity is known to one unit.
func Bisect(good, bad Load) (Load, bool) {
	mid := Load{
		Rooms:       (good.Rooms + bad.Rooms) / 2,
		Publishers:  (good.Publishers + bad.Publishers) / 2,
		Subscribers: (good.Subscribers + bad.Subscribers) / 2,
	}
	if mid.Bots() <= good.Bots() || mid.Bots() >= bad.Bots() {
		return Load{}, false
	}
	return mid, true
}

// NewStep records step number n (from 1), run at load, from its summary;
// the verdict is taken from the summary's SLO field.
func NewStep(n int, load Load, s Summary) Step {
	return Step{
		Step:              n,
		Phase:             PhaseRamp,
		Rooms:             load.Rooms,
		Publishers:        load.Publishers,
		Subscribers:       load.Subscribers,
		Bots:              load.Bots(),
		LatencyMs:         s.LatencyMs,
		LossPct:           s.LossPct,
		JoinFailurePct:    round(s.Bots.JoinFailurePct(), 3),
		Freezes:           s.Freezes.Count,
		SFUCPUCores:       s.SFU.CPUCores,
		SFUCPUHeadroomPct: s.SFU.CPUHeadroomPct,
		SFUScraped:        s.SFU.Scraped,
		JitterMs:          s.JitterMs,
		Passed:            s.SLO.Passed,
		Breaches:          append([]Breach{}, s.SLO.Breaches...),
	}
}
