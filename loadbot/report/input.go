package report

import (
	"time"

	"github.com/surgertc/surge/loadbot/stats"
)

// Input is everything Build needs, filled by the runner at the end of a
// run (or a ramp step). All fields are plain values; none is retained.
type Input struct {
	Scenario           Scenario
	StartedAt, EndedAt time.Time
	// Partial marks a run cut short (signal, fatal error); the numbers
	// cover what ran.
	Partial bool
	// TargetBots is how many bots the scenario asked for.
	TargetBots int
	// Rooms holds every bot that was started, failed ones included,
	// grouped by room.
	Rooms []RoomInput
	SFU   SFUInput
	// Loadbot is loadbot's own CPU use.
	Loadbot LoadbotInput
	// Timeline is built during the run with NewPoint, one per tick.
	Timeline []Point
	// Steps are the ramp's steps so far (NewStep); nil for a run.
	Steps []Step
	SLO   SLO
}

// RoomInput is one room and its bots.
type RoomInput struct {
	Name string
	Bots []BotInput
}

// BotInput is one bot's results.
type BotInput struct {
	ID        string
	Publisher bool // a publisher's tracks are not counted as received media
	Shaped    bool // its link was shaped (rate, delay or loss)
	// JoinFailure is the reason the bot failed to join (see the
	// stats.Fail* constants); empty when it joined.
	JoinFailure string
	Join        stats.JoinTiming
	// Tracks are the snapshots of every track the bot received, taken
	// after TrackStats.Finish.
	Tracks []stats.Snapshot
	// Reconnect is what redirects and lost sessions did to the bot.
	Reconnect ReconnectInput
}

// ReconnectInput is one bot's redirects and reconnects (multi-node SFU,
// node loss, drain).
type ReconnectInput struct {
	Redirects  int // redirects followed, over all joins
	Reconnects int // sessions lost and joined again
	Failures   int // rejoin attempts that failed before one succeeded
	// MediaGaps holds one gap per loss: subscriber, last packet before
	// to first packet after; publisher, loss to sending again.
	MediaGaps []time.Duration
	// MediaLost: the last gap was still open when the run ended.
	MediaLost bool
	SignalURL string // the URL of the bot's last session
}

// joinDuration is the join time a report states: until ICE connected,
// the moment media could flow. Media itself is time_to_first_frame.
func (b *BotInput) joinDuration() time.Duration {
	if b.Join.ICEConnected > 0 {
		return b.Join.ICEConnected
	}
	return b.Join.Joined
}

// SFUInput is what was scraped from the SFU's /metrics.
type SFUInput struct {
	// Scraped is false when /metrics was not configured or unreachable;
	// the other fields are then ignored.
	Scraped    bool
	GOMAXPROCS int
	// Samples of process_cpu_seconds_total in time order.
	Samples []SFUSample
	// ForwardLatencyMs are quantiles of the SFU's forwarding histogram.
	ForwardLatencyMs P50P99
	// Dropped counts packets the SFU dropped during the run, by reason
	// (end value minus start value of each counter).
	Dropped map[string]float64
}

// SFUSample is one scrape of the SFU's cumulative CPU time.
type SFUSample struct {
	At         time.Time
	CPUSeconds float64 // process_cpu_seconds_total
}

// CPUCores returns the mean number of cores the samples show in use, and
// the peak over any one interval between consecutive samples.
func CPUCores(samples []SFUSample) (mean, peak float64) {
	if len(samples) < 2 {
		return 0, 0
	}
	for i := 1; i < len(samples); i++ {
		if c := coresBetween(samples[i-1], samples[i]); c > peak {
			peak = c
		}
	}
	return coresBetween(samples[0], samples[len(samples)-1]), peak
}

func coresBetween(a, b SFUSample) float64 {
	d := b.At.Sub(a.At).Seconds()
	if d <= 0 || b.CPUSeconds < a.CPUSeconds {
		return 0 // a restarted process resets its counter
	}
	return (b.CPUSeconds - a.CPUSeconds) / d
}

// LoadbotInput is loadbot's own CPU use.
type LoadbotInput struct {
	CPUCores float64 // mean cores used by the loadbot process
	Cores    int     // cores available to it (GOMAXPROCS)
}

// BottleneckShare is the share of its cores above which loadbot counts as
// the bottleneck: past it, its own scheduling delays show up as latency.
const BottleneckShare = 0.8

// NewPoint builds a timeline point from the aggregate of the interval
// that ends at t (since the run started): stats.Aggregate.Sub of two
// consecutive cumulative aggregates over all subscriber tracks.
func NewPoint(t time.Duration, bots int, interval *stats.Aggregate, sfuCPUCores float64) Point {
	return Point{
		TS:   round(t.Seconds(), 3),
		Bots: bots,
		LatencyMs: P50P99{
			P50: ms(interval.Latency.Quantile(0.50)),
			P99: ms(interval.Latency.Quantile(0.99)),
		},
		LossPct:     round(interval.LossPct(), 3),
		SFUCPUCores: round(sfuCPUCores, 3),
	}
}
