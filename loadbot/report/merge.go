package report

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Merge combines the reports of loadbot processes that ran one scenario
// (or parts of it) into one report. Rooms of the same name are one room;
// every summary figure is recomputed from the rooms' raw aggregates, so
// percentiles are those of all samples, not averages of percentiles.
// names label the reports in errors and in agents[] (a file name, say).
//
// A bot id seen in two reports is an error: the same report given twice
// would otherwise count its bots twice. Ramps are not merged: their steps
// were judged by one process each.
func Merge(reports []Report, names []string) (Report, error) {
	if len(reports) == 0 {
		return Report{}, fmt.Errorf("nothing to merge")
	}
	name := func(i int) string {
		if i < len(names) && names[i] != "" {
			return names[i]
		}
		return fmt.Sprintf("report %d", i+1)
	}
	first := reports[0]
	out := Report{
		Version:   Version,
		Scenario:  first.Scenario,
		StartedAt: first.StartedAt,
		EndedAt:   first.EndedAt,
		SLO:       first.SLO,
		Timeline:  []Point{},
	}
	out.Scenario.InstanceID = ""
	out.Scenario.Agents = 0
	seen := map[string]string{}
	roomAt := map[string]int{}
	warned := map[string]bool{}
	warn := func(w string) {
		if !warned[w] {
			warned[w] = true
			out.Warnings = append(out.Warnings, w)
		}
	}
	var sfuFrom string
	for i := range reports {
		r := &reports[i]
		switch {
		case r.Version != Version:
			return Report{}, fmt.Errorf("%s: schema version %d, this loadbot reads %d", name(i), r.Version, Version)
		case len(r.Steps) > 0:
			return Report{}, fmt.Errorf("%s is a ramp: ramps are judged step by step in one process and cannot be merged", name(i))
		}
		if r.Scenario.URL != first.Scenario.URL {
			warn(fmt.Sprintf("reports target different SFUs (%s and %s)", first.Scenario.URL, r.Scenario.URL))
		}
		if r.SLO != first.SLO {
			warn(fmt.Sprintf("SLO limits differ between reports; the merged verdict uses those of %s", name(0)))
		}
		if r.StartedAt.Before(out.StartedAt) {
			out.StartedAt = r.StartedAt
		}
		if r.EndedAt.After(out.EndedAt) {
			out.EndedAt = r.EndedAt
		}
		out.Partial = out.Partial || r.Partial
		out.Scenario.DurationS = math.Max(out.Scenario.DurationS, r.Scenario.DurationS)
		if i > 0 {
			out.Scenario.JoinRate += r.Scenario.JoinRate
		}
		for _, w := range r.Warnings {
			warn(w)
		}
		s := &out.Summary
		s.Bots.Target += r.Summary.Bots.Target
		s.Bots.Lost += r.Summary.Bots.Lost
		s.Loadbot.CPUCores = round(s.Loadbot.CPUCores+r.Summary.Loadbot.CPUCores, 3)
		s.Loadbot.Bottleneck = s.Loadbot.Bottleneck || r.Summary.Loadbot.Bottleneck
		if r.Summary.SFU.Scraped {
			if sfuFrom == "" {
				s.SFU, sfuFrom = r.Summary.SFU, name(i)
			} else {
				warn(fmt.Sprintf("several reports scraped the SFU; its figures are those of %s", sfuFrom))
			}
		}
		if len(r.Agents) > 0 {
			out.Agents = append(out.Agents, r.Agents...)
		} else {
			sum := r.Summary
			id := r.Scenario.InstanceID
			if id == "" {
				id = name(i)
			}
			out.Agents = append(out.Agents, Agent{ID: id, Status: AgentOK, Bots: sum.Bots.Target, Summary: &sum})
		}

		for _, room := range r.Rooms {
			if room.Raw == nil {
				return Report{}, fmt.Errorf("%s: room %s has no raw data (written by an older loadbot); it cannot be merged", name(i), room.Name)
			}
			for _, b := range room.Bots {
				if other, dup := seen[b.ID]; dup {
					return Report{}, fmt.Errorf("bot %s is in both %s and %s: the same report given twice, or two processes with one --instance-id", b.ID, other, name(i))
				}
				seen[b.ID] = name(i)
			}
			j, ok := roomAt[room.Name]
			if !ok {
				roomAt[room.Name] = len(out.Rooms)
				room.Bots = append([]Bot(nil), room.Bots...)
				room.Timeline = shiftRoomPoints(room.Timeline, r.StartedAt)
				out.Rooms = append(out.Rooms, room)
				continue
			}
			if err := mergeRoom(&out.Rooms[j], &room, r.StartedAt); err != nil {
				return Report{}, fmt.Errorf("%s: room %s: %w", name(i), room.Name, err)
			}
		}
	}

	// Rooms in name order, numbers compared as numbers: load-2 before
	// load-10, whichever agent reported first.
	sort.SliceStable(out.Rooms, func(i, j int) bool { return naturalLess(out.Rooms[i].Name, out.Rooms[j].Name) })
	step := timelineStep(reports)
	var err error
	if out.Timeline, err = mergeTimelines(reports, out.StartedAt, step); err != nil {
		return Report{}, err
	}
	for i := range out.Rooms {
		room := &out.Rooms[i]
		if room.Timeline, err = alignRoomPoints(room.Timeline, out.StartedAt, step); err != nil {
			return Report{}, fmt.Errorf("room %s: %w", room.Name, err)
		}
		a, err := room.Raw.aggregate()
		if err != nil {
			return Report{}, errRaw("room "+room.Name, err)
		}
		room.fill(&a)
	}
	out.Scenario.Rooms = len(out.Rooms)
	out.Scenario.Publishers, out.Scenario.Subscribers = 0, 0
	for _, room := range out.Rooms {
		out.Scenario.Publishers = max(out.Scenario.Publishers, room.Publishers)
		out.Scenario.Subscribers = max(out.Scenario.Subscribers, room.Subscribers)
	}
	out.Scenario.Agents = len(out.Agents)
	if err := out.summarise(); err != nil {
		return Report{}, err
	}
	return out, nil
}

// AddLostAgent records an agent that delivered no report: its bots count as
// lost (never as connected or failed), the report is partial and says so.
func (r *Report) AddLostAgent(a Agent) error {
	a.Summary = nil
	r.Agents = append(r.Agents, a)
	r.Scenario.Agents = len(r.Agents)
	r.Summary.Bots.Target += a.Bots
	r.Summary.Bots.Lost += a.Bots
	r.Partial = true
	why := a.Error
	if why == "" {
		why = "it stopped heartbeating"
	}
	r.Warnings = append(r.Warnings, fmt.Sprintf("agent %s%s was %s (%s): its %d bots are not in these results", a.ID, hostSuffix(a.Host), a.Status, why, a.Bots))
	return r.summarise()
}

// SetSFU replaces the SFU figures (a coordinator scrapes the SFU itself)
// and judges the SLO again.
func (r *Report) SetSFU(in SFUInput) error {
	r.Summary.SFU = buildSFU(in)
	return r.summarise()
}

func hostSuffix(h string) string {
	if h == "" {
		return ""
	}
	return " on " + h
}

func mergeRoom(dst, src *Room, started time.Time) error {
	raw, err := mergeRaw(dst.Raw, src.Raw)
	if err != nil {
		return err
	}
	dst.Raw = raw
	dst.Publishers += src.Publishers
	dst.Subscribers += src.Subscribers
	dst.Bots = append(dst.Bots, src.Bots...)
	dst.Timeline = append(dst.Timeline, shiftRoomPoints(src.Timeline, started)...)
	dst.LatencyClock = combineClock(dst.LatencyClock, src.LatencyClock)
	if src.LatencyNote != "" && src.LatencyNote != dst.LatencyNote {
		if dst.LatencyNote != "" {
			dst.LatencyNote += "; "
		}
		dst.LatencyNote += src.LatencyNote
	}
	return nil
}

// combineClock is the weaker of two rooms' clock sources.
func combineClock(a, b string) string {
	rank := map[string]int{ClockSameProcess: 0, ClockSameHost: 1, ClockMeasured: 2, ClockPartial: 3, ClockAbsent: 4}
	switch {
	case a == b:
		return a
	case a == ClockAbsent || b == ClockAbsent:
		return ClockPartial
	case rank[a] > rank[b]:
		return a
	}
	return b
}

// Room points are kept with absolute times (as Unix seconds in TS) while
// rooms are merged, then aligned to the merged start.
func shiftRoomPoints(ps []RoomPoint, started time.Time) []RoomPoint {
	out := make([]RoomPoint, len(ps))
	for i, p := range ps {
		p.TS = float64(started.UnixNano())/1e9 + p.TS
		out[i] = p
	}
	return out
}

func alignRoomPoints(ps []RoomPoint, start time.Time, step float64) ([]RoomPoint, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	base := float64(start.UnixNano()) / 1e9
	b := newBinner[RoomPoint](step)
	for _, p := range ps {
		if err := b.add(p.TS-base, p, nil); err != nil {
			return nil, err
		}
	}
	return b.sorted(), nil
}

// timelinePoint is what Point and RoomPoint share for merging.
type timelinePoint[P any] interface {
	*P
	fields() (ts *float64, raw **PointRaw, lat *P50P99, loss *float64)
}

func (p *Point) fields() (*float64, **PointRaw, *P50P99, *float64) {
	return &p.TS, &p.Raw, &p.LatencyMs, &p.LossPct
}

func (p *RoomPoint) fields() (*float64, **PointRaw, *P50P99, *float64) {
	return &p.TS, &p.Raw, &p.LatencyMs, &p.LossPct
}

// binner gathers timeline points into bins of one sampling step on a
// shared axis; points that fall into one bin merge through their raw data.
type binner[P any, PP timelinePoint[P]] struct {
	step float64
	bins map[int]PP
}

func newBinner[P any, PP timelinePoint[P]](step float64) *binner[P, PP] {
	return &binner[P, PP]{step: step, bins: map[int]PP{}}
}

// add puts p, at t seconds on the shared axis, into its bin; also, if not
// nil, merges what else a point carries.
func (b *binner[P, PP]) add(t float64, p P, also func(cur, p PP)) error {
	k := int(math.Round(t / b.step))
	cur, ok := b.bins[k]
	if !ok {
		ts, _, _, _ := PP(&p).fields()
		*ts = round(float64(k)*b.step, 3)
		b.bins[k] = &p
		return nil
	}
	_, curRaw, lat, loss := cur.fields()
	_, pRaw, _, _ := PP(&p).fields()
	if *curRaw == nil || *pRaw == nil {
		return fmt.Errorf("timeline point without raw data (written by an older loadbot)")
	}
	raw, err := mergePointRaw(*curRaw, *pRaw)
	if err != nil {
		return err
	}
	*curRaw = raw
	if *lat, *loss, err = raw.stats(); err != nil {
		return err
	}
	if also != nil {
		also(cur, &p)
	}
	return nil
}

func (b *binner[P, PP]) sorted() []P {
	keys := make([]int, 0, len(b.bins))
	for k := range b.bins {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	out := make([]P, len(keys))
	for i, k := range keys {
		out[i] = *b.bins[k]
	}
	return out
}

// timelineStep is the sampling interval of the reports: the median gap
// between points, 1 s if no report has two.
func timelineStep(reports []Report) float64 {
	var gaps []float64
	for _, r := range reports {
		for i := 1; i < len(r.Timeline); i++ {
			if g := r.Timeline[i].TS - r.Timeline[i-1].TS; g > 0 {
				gaps = append(gaps, g)
			}
		}
	}
	if len(gaps) == 0 {
		return 1
	}
	sort.Float64s(gaps)
	return gaps[len(gaps)/2]
}

// mergeTimelines puts every report's points on one time axis from start,
// in steps of step, and adds up those that fall together: bots add, SFU
// CPU (one SFU, scraped by each) takes the largest reading.
func mergeTimelines(reports []Report, start time.Time, step float64) ([]Point, error) {
	b := newBinner[Point](step)
	also := func(cur, p *Point) {
		cur.Bots += p.Bots
		cur.SFUCPUCores = math.Max(cur.SFUCPUCores, p.SFUCPUCores)
	}
	for _, r := range reports {
		off := r.StartedAt.Sub(start).Seconds()
		for _, p := range r.Timeline {
			if err := b.add(p.TS+off, p, also); err != nil {
				return nil, err
			}
		}
	}
	return b.sorted(), nil
}

// naturalLess orders strings with their digit runs compared as numbers.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		switch {
		case da > 0 && db > 0:
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
		case a[0] != b[0]:
			return a[0] < b[0]
		default:
			a, b = a[1:], b[1:]
		}
	}
	return len(a) < len(b)
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
